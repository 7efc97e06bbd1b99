#!/usr/bin/env bash
# RDB save and load speed: Kvasir against a reference server in the same run.
#
# usage: bench/persistence.sh [-n KEYS] [-g GB] [-s "mixed big"] [--record]
#   -n KEYS    keys of the mixed data set (default 1000000): 70% strings, 10% hashes (5 fields),
#              10% lists (5 elements), 5% sets (5 members), 5% sorted sets (5 members); the same
#              RESP stream is piped into both servers
#   -g GB      size of the big file (default 1): DEBUG POPULATE of values of 1000 bytes into the
#              reference server, saved with rdbcompression no, then loaded by both servers
#   -s LIST    parts to run (default "mixed big")
#   --record   append the output to bench/RESULTS.md
# environment:
#   VALKEY_SERVER=path   reference server (default ~/valkey/src/valkey-server, else REDIS_SERVER)
#   REDIS_SERVER=path    reference when no Valkey is found (default: Debian's redis-server)
#   KVASIR_ENV, KVASIR_BIN, BENCH_PORT (first port tried, default 7200) as the other scripts
#
# Measured per server: SAVE (wall time of the command, file size), and the startup load: time
# from the process start until PING answers, and the "DB loaded from disk: N seconds" the server
# logs. An empty start is measured too, so the process start-up cost can be told apart.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEYS=1000000; GB=1; PARTS="mixed big"; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -g) GB=$2; shift ;;
    -s) PARTS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
if [ -z "${VALKEY_SERVER:-}" ] && [ -x "$HOME/valkey/src/valkey-server" ]; then VALKEY_SERVER=$HOME/valkey/src/valkey-server; fi
if [ -n "${VALKEY_SERVER:-}" ]; then
    REF_BIN=$VALKEY_SERVER; REF_NAME=valkey
else
    [ -n "${REDIS_SERVER:-}" ] || ensure_tool redis-server redis-server
    REF_BIN=${REDIS_SERVER:-redis-server}; REF_NAME=redis
fi
# The Release binary itself rather than the launcher: start-up time is part of what is measured.
KVASIR=${KVASIR_BIN:-$REPO_ROOT/src/Kvasir.Server/bin/Release/net10.0/kvasir-server}
if [ -z "${KVASIR_BIN:-}" ] && { [ ! -x "$KVASIR" ] || [ -n "$(find "$REPO_ROOT/src" -name '*.cs' -newer "$KVASIR" -print -quit)" ]; }; then
    log "building Kvasir (Release)"
    (cd "$REPO_ROOT" && dotnet build src/Kvasir.Server -c Release -nologo -v q >"$BENCH_OUT/build.log" 2>&1) || die "build failed (see $BENCH_OUT/build.log)"
fi
WORK="$BENCH_OUT/persistence"
rm -rf "$WORK"; mkdir -p "$WORK"
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
PORT=$(next_free_port "${BENCH_PORT:-7200}")
OUTPUT=()
say() { printf '%s\n' "$*"; OUTPUT+=("$*"); }

now_ms() { date +%s%3N; }

# start NAME DIR FILE EXTRA... -> SERVER_ROOT_PID, READY_MS (process start to PING), LOGF
start() {
    local name=$1 dir=$2 file=$3; shift 3
    LOGF="$dir/$name.log"
    local t0; t0=$(now_ms)
    if [ "$name" = kvasir ]; then
        local envs=()
        [ -n "${KVASIR_ENV:-}" ] && read -r -a envs <<<"$KVASIR_ENV"
        env "${envs[@]}" "$KVASIR" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$dir" --dbfilename "$file" --enable-debug-command yes "$@" >"$LOGF" 2>&1 &
    else
        "$REF_BIN" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "" \
            --dir "$dir" --dbfilename "$file" --enable-debug-command yes "$@" >"$LOGF" 2>&1 &
    fi
    SERVER_ROOT_PID=$!
    BENCH_PIDS+=("$SERVER_ROOT_PID")
    local i
    for ((i = 0; i < 60000; i++)); do
        kill -0 "$SERVER_ROOT_PID" 2>/dev/null || { tail -20 "$LOGF" >&2; die "$name died while starting"; }
        [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break
        sleep 0.01
    done
    READY_MS=$(( $(now_ms) - t0 ))
}

stop() {
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    stop_server "$SERVER_ROOT_PID"
    BENCH_PIDS=()
}

loaded_seconds() { sed -n 's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' "$LOGF" | tail -1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# measure NAME DIR FILE: SAVE there with the data already loaded, then a fresh start on the file.
declare -A SAVE_MS SIZE READY LOADED EMPTY
empty_start() {
    local name=$1 dir="$WORK/empty-$1"
    mkdir -p "$dir"
    start "$name" "$dir" none.rdb
    EMPTY[$name]=$READY_MS
    stop
}

say "# persistence bench $(date -u +%Y-%m-%dT%H:%MZ) $(git_describe), reference: $REF_NAME ($REF_BIN)"
for s in kvasir "$REF_NAME"; do empty_start "$s"; done
say "empty start (process start to PING): kvasir ${EMPTY[kvasir]} ms, $REF_NAME ${EMPTY[$REF_NAME]} ms"

if [[ " $PARTS " == *" mixed "* ]]; then
    STREAM="$WORK/mixed.resp"
    awk -v n="$KEYS" 'function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
    BEGIN {
        for (i = 1; i <= n; i++) {
            k = i % 20
            if (k < 14) { printf "*3\r\n"; bulk("SET"); bulk(sprintf("s:%010d", i)); bulk("value-" i) }
            else if (k < 16) { printf "*12\r\n"; bulk("HSET"); bulk(sprintf("h:%010d", i)); for (f = 1; f <= 5; f++) { bulk("field" f); bulk("v" i * f) } }
            else if (k < 18) { printf "*7\r\n"; bulk("RPUSH"); bulk(sprintf("l:%010d", i)); for (f = 1; f <= 5; f++) bulk("item-" i + f) }
            else if (k < 19) { printf "*7\r\n"; bulk("SADD"); bulk(sprintf("t:%010d", i)); for (f = 1; f <= 5; f++) bulk("m" i + f) }
            else { printf "*12\r\n"; bulk("ZADD"); bulk(sprintf("z:%010d", i)); for (f = 1; f <= 5; f++) { bulk(f * 1.5); bulk("m" i + f) } }
        }
    }' >"$STREAM"
    for s in kvasir "$REF_NAME"; do
        dir="$WORK/mixed-$s"; mkdir -p "$dir"
        start "$s" "$dir" dump.rdb
        redis-cli -p "$PORT" --pipe <"$STREAM" >/dev/null
        keys=$(redis-cli -p "$PORT" dbsize)
        [ "$keys" = "$KEYS" ] || die "$s holds $keys keys after the load, expected $KEYS"
        t0=$(now_ms); redis-cli -p "$PORT" save >/dev/null; SAVE_MS[$s]=$(( $(now_ms) - t0 ))
        SIZE[$s]=$(stat -c %s "$dir/dump.rdb")
        stop
        start "$s" "$dir" dump.rdb
        READY[$s]=$READY_MS; LOADED[$s]=$(loaded_seconds)
        keys=$(redis-cli -p "$PORT" dbsize)
        [ "$keys" = "$KEYS" ] || die "$s loaded $keys keys, expected $KEYS"
        stop
    done
    say ""
    say "## $KEYS mixed keys (70% strings, 10% hashes, 10% lists, 5% sets, 5% zsets)"
    say "| server | SAVE ms | file MB | start to PING ms | DB loaded from disk s |"
    say "| --- | --- | --- | --- | --- |"
    for s in kvasir "$REF_NAME"; do say "| $s | ${SAVE_MS[$s]} | $(mb "${SIZE[$s]}") | ${READY[$s]} | ${LOADED[$s]} |"; done
    say "ratio kvasir/$REF_NAME: SAVE $(ratio "${SAVE_MS[kvasir]}" "${SAVE_MS[$REF_NAME]}"), start to PING $(ratio "${READY[kvasir]}" "${READY[$REF_NAME]}"), load (logged) $(ratio "${LOADED[kvasir]}" "${LOADED[$REF_NAME]}")"
    rm -f "$STREAM"; rm -rf "$WORK"/mixed-*
fi

if [[ " $PARTS " == *" big "* ]]; then
    dir="$WORK/big"; mkdir -p "$dir"
    count=$(( GB * 1000000 ))
    start "$REF_NAME" "$dir" big.rdb --rdbcompression no
    redis-cli -p "$PORT" debug populate "$count" key 1000 >/dev/null
    t0=$(now_ms); redis-cli -p "$PORT" save >/dev/null; ref_save=$(( $(now_ms) - t0 ))
    stop
    size=$(stat -c %s "$dir/big.rdb")
    for s in kvasir "$REF_NAME"; do
        start "$s" "$dir" big.rdb
        READY[$s]=$READY_MS; LOADED[$s]=$(loaded_seconds)
        keys=$(redis-cli -p "$PORT" dbsize)
        [ "$keys" = "$count" ] || die "$s loaded $keys keys, expected $count"
        if [ "$s" = kvasir ]; then
            t0=$(now_ms); redis-cli -p "$PORT" config set rdbcompression no >/dev/null; redis-cli -p "$PORT" save >/dev/null
            SAVE_MS[kvasir]=$(( $(now_ms) - t0 ))
        fi
        stop
    done
    SAVE_MS[$REF_NAME]=$ref_save
    say ""
    say "## big file: $count keys of 1000 bytes (DEBUG POPULATE in $REF_NAME, rdbcompression no), $(mb "$size") MB"
    say "| server | SAVE ms | start to PING ms | DB loaded from disk s |"
    say "| --- | --- | --- | --- |"
    for s in kvasir "$REF_NAME"; do say "| $s | ${SAVE_MS[$s]} | ${READY[$s]} | ${LOADED[$s]} |"; done
    say "ratio kvasir/$REF_NAME: SAVE $(ratio "${SAVE_MS[kvasir]}" "${SAVE_MS[$REF_NAME]}"), start to PING $(ratio "${READY[kvasir]}" "${READY[$REF_NAME]}"), load (logged) $(ratio "${LOADED[kvasir]}" "${LOADED[$REF_NAME]}")"
fi

if [ "$RECORD" = 1 ]; then
    { echo; printf '%s\n' "${OUTPUT[@]}"; } >>"$REPO_ROOT/bench/RESULTS.md"
fi
