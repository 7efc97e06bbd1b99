#!/usr/bin/env bash
# Memory per key: load N small string keys into a fresh server and read RSS and INFO used_memory.
#
# usage: bench/memory.sh [-n KEYS] [--record]
#   -n KEYS     keys to load (default 1000000): SET key:%012d val:%d, sent with redis-cli --pipe
#   --record    append the table to bench/RESULTS.md
# environment:
#   VALKEY_SERVER=path   also measure this valkey-server
#   REDIS_SERVER=path    reference redis-server (default: Debian's)
#   KVASIR_ENV="A=1"     extra environment for the Kvasir process only
#   KVASIR_BIN=path      run this Kvasir binary instead of the repo's launcher/Release build
#   BENCH_PORT=7200      first port to try
#
# Servers are measured one after another, each freshly started with persistence off.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEYS=1000000; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
[ -n "${REDIS_SERVER:-}" ] || ensure_tool redis-server redis-server
SERVERS="kvasir redis"
if [ -n "${VALKEY_SERVER:-}" ]; then
    [ -x "$VALKEY_SERVER" ] || die "VALKEY_SERVER=$VALKEY_SERVER is not executable"
    SERVERS+=" valkey"
fi

trap 'stop_all; rm -f "$BENCH_OUT/memory-load.resp"' EXIT INT TERM

# The RESP stream is generated once (awk is fast enough: ~1 s per million commands) and replayed.
STREAM="$BENCH_OUT/memory-load.resp"
awk -v n="$KEYS" 'BEGIN {
    for (i = 1; i <= n; i++) {
        v = "val:" i
        printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, length(v), v
    }
}' >"$STREAM"

# RSS stops moving once the server has digested the load (and the GC has settled).
settled_rss() {
    local pid=$1 prev=0 cur stable=0 i
    for ((i = 0; i < 60; i++)); do
        sleep 0.5
        cur=$(rss_kb "$pid")
        if [ $((cur > prev ? cur - prev : prev - cur)) -le $((prev / 200)) ]; then
            stable=$((stable + 1)); [ $stable -ge 4 ] && break
        else
            stable=0
        fi
        prev=$cur
    done
    echo "$cur"
}

key_count() {  # DBSIZE when the server has it, otherwise n/a
    local out
    out=$(timeout 10 redis-cli -p "$1" dbsize 2>&1)
    case $out in *[!0-9]* | "") echo "n/a" ;; *) echo "$out" ;; esac
}

ROWS=""
port=$(next_free_port "${BENCH_PORT:-7200}")
for srv in $SERVERS; do
    start_server "$srv" "$port"
    pid=$SERVER_PID
    sleep 1
    rss0=$(settled_rss "$pid")
    um0=$(info_field "$port" memory used_memory)
    log "$srv: loading $KEYS keys"
    pipe_out=$(timeout 1200 redis-cli -p "$port" --pipe <"$STREAM" 2>&1 | tr -d '\r' | tail -1)
    log "$srv: $pipe_out"
    rss1=$(settled_rss "$pid")
    um1=$(info_field "$port" memory used_memory)
    dbsize=$(key_count "$port")
    last=$(timeout 5 redis-cli -p "$port" get "$(printf 'key:%012d' "$KEYS")" 2>&1)
    [ "$last" = "val:$KEYS" ] || log "$srv: last key reads back '$last', expected 'val:$KEYS'"
    stop_server "${BENCH_PIDS[@]}"
    BENCH_PIDS=()
    ROWS+="$srv $KEYS $dbsize $rss0 $rss1 ${um0:-n/a} ${um1:-n/a}"$'\n'
done

rm -f "$STREAM"

TABLE=$(printf '%s' "$ROWS" | awk '
function per(a, b) { return (a == "n/a" || b == "n/a") ? "n/a" : sprintf("%.1f", (b - a) / keys) }
{
    keys = $2
    printf "%-8s %9s %9s %10.1f %10.1f %10s %10s %10s %10s\n", $1, $2, $3, $4 / 1024, $5 / 1024,
        sprintf("%.1f", ($5 - $4) * 1024 / keys), sprintf("%.1f", $5 * 1024 / keys), per($6, $7), per(0, $7)
    if ($1 == "kvasir") kd = ($5 - $4) * 1024 / keys
}
BEGIN { printf "%-8s %9s %9s %10s %10s %10s %10s %10s %10s\n", "server", "keys", "dbsize", "RSS0 MB", "RSS1 MB", "RSS d/key", "RSS /key", "used d/key", "used /key" }
END { if (kd != "") printf "target kvasir RSS delta per key %.1f B %s 110 B\n", kd, kd <= 110 ? "<=" : "ABOVE" }')

HEADER="$(date -u '+%Y-%m-%d %H:%M UTC') | kvasir $(git_describe) | $KEYS x SET key:%012d val:%d | $(nproc) cores${KVASIR_ENV:+ | KVASIR_ENV: $KVASIR_ENV}"
echo "$HEADER"
echo "$TABLE"
echo "RSS d/key = (RSS after load - RSS at start) / keys; RSS /key = RSS after load / keys; used = INFO used_memory (n/a: no INFO yet). Bytes."

if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "### $(date -u +%Y-%m-%d) memory${KVASIR_ENV:+ (KVASIR_ENV: $KVASIR_ENV)}"
        echo
        echo '```'
        echo "$HEADER"
        echo "$TABLE"
        echo '```'
    } >>"$BENCH_DIR/RESULTS.md"
    log "recorded in bench/RESULTS.md"
fi
