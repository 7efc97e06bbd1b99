#!/usr/bin/env bash
# Memory per key: load N small string keys into a fresh server and read RSS and INFO used_memory.
#
# usage: bench/memory.sh [-n KEYS] [-w string|hash|stream] [-r ROUNDS] [-s "kvasir redis valkey"] [--record]
#   -n KEYS     keys to load (default 1000000), sent with redis-cli --pipe
#   -w WORKLOAD string (default): SET key:%012d val:%d
#               hash: HSET user:%012d name .. email .. age .. city .. plan .. (5 short fields)
#               stream: XADD s * f v, KEYS entries in one stream (per "key" figures are per entry;
#               each server first adds and deletes 100000 entries, then MEMORY PURGE, so one-time
#               costs are in RSS0 and no server starts with memory freed but kept)
#   -r R        fresh start + load R times per server, report medians (default 3: a managed heap's
#               RSS after a bulk load varies with when the GC last ran)
#   -s LIST     servers to measure (default: kvasir redis, and valkey when VALKEY_SERVER is set)
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

KEYS=1000000; ROUNDS=3; RECORD=0; ONLY=""; WORKLOAD=string; WARMUP=100000
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -s) ONLY=$2; shift ;;
    -w) WORKLOAD=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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
if [ -n "$ONLY" ]; then
    SERVERS=$ONLY
    case " $SERVERS " in *" valkey "*) [ -n "${VALKEY_SERVER:-}" ] || die "valkey needs VALKEY_SERVER=path" ;; esac
fi

trap 'stop_all; rm -f "$BENCH_OUT/memory-load.resp"' EXIT
trap 'exit 130' INT TERM

# The RESP stream is generated once (awk is fast enough: ~1 s per million commands) and replayed.
STREAM="$BENCH_OUT/memory-load.resp"
case $WORKLOAD in
string)
    DESCRIPTION='SET key:%012d val:%d'
    awk -v n="$KEYS" 'BEGIN {
        for (i = 1; i <= n; i++) {
            v = "val:" i
            printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, length(v), v
        }
    }' >"$STREAM" ;;
hash)
    DESCRIPTION='HSET user:%012d name email age city plan'
    awk -v n="$KEYS" 'function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
    BEGIN {
        for (i = 1; i <= n; i++) {
            printf "*12\r\n"; bulk("HSET"); bulk(sprintf("user:%012d", i))
            bulk("name"); bulk("user" i); bulk("email"); bulk("u" i "@example.com")
            bulk("age"); bulk(18 + i % 60); bulk("city"); bulk("city" i % 500); bulk("plan"); bulk(i % 3 ? "free" : "pro")
        }
    }' >"$STREAM" ;;
stream)
    DESCRIPTION='XADD s * f v (entries of one stream)'
    awk -v n="$KEYS" 'BEGIN {
        for (i = 1; i <= n; i++) printf "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n"
    }' >"$STREAM" ;;
*) die "unknown workload $WORKLOAD (string, hash or stream)" ;;
esac

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
for ((round = 1; round <= ROUNDS; round++)); do
    for srv in $SERVERS; do
        start_server "$srv" "$port"
        pid=$SERVER_PID
        sleep 1
        if [ "$WORKLOAD" = stream ]; then
            # A stream entry is ~12 bytes: one-time costs of the first XADDs (Kvasir's JIT-compiled
            # code, allocator arenas) would outweigh the data. Every server first takes and drops
            # WARMUP (100000) entries of another stream, so RSS0 already includes them (JIT tiers included).
            head -c $((WARMUP * 42)) "$STREAM" | sed 's/^s\r$/w\r/' | redis-cli -p "$port" --pipe >/dev/null 2>&1
            redis-cli -p "$port" del s w >/dev/null
            # What the warm-up freed is given back (jemalloc's purge; Kvasir's full collection), so no
            # server starts the measured load with free memory the others do not have.
            redis-cli -p "$port" memory purge >/dev/null
        fi
        rss0=$(settled_rss "$pid")
        um0=$(info_field "$port" memory used_memory)
        pipe_out=$(timeout 1200 redis-cli -p "$port" --pipe <"$STREAM" 2>&1 | tr -d '\r' | tail -1)
        rss1=$(settled_rss "$pid")
        um1=$(info_field "$port" memory used_memory)
        dbsize=$(key_count "$port")
        if [ "$WORKLOAD" = hash ]; then
            last=$(timeout 5 redis-cli -p "$port" hget "$(printf 'user:%012d' "$KEYS")" name 2>&1); expect="user$KEYS"
        elif [ "$WORKLOAD" = stream ]; then
            last=$(timeout 5 redis-cli -p "$port" xlen s 2>&1); expect="$KEYS"
        else
            last=$(timeout 5 redis-cli -p "$port" get "$(printf 'key:%012d' "$KEYS")" 2>&1); expect="val:$KEYS"
        fi
        log "round $round $srv: $pipe_out; RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB"
        [ "$last" = "$expect" ] || log "$srv: last key reads back '$last', expected '$expect'"
        stop_server "${BENCH_PIDS[@]}"
        BENCH_PIDS=()
        ROWS+="$srv $KEYS $dbsize $rss0 $rss1 ${um0:-n/a} ${um1:-n/a}"$'\n'
    done
done

rm -f "$STREAM"

# Medians over rounds per server; the spread of the RSS growth shows how much the GC moves it.
TARGET=110; [ "$WORKLOAD" = hash ] && TARGET=170   # bytes of RSS growth per key (issues 2 and 3)
# Streams (issue 12): no fixed figure, at most what the reference servers take per entry.
TARGET_REF=0; [ "$WORKLOAD" = stream ] && TARGET_REF=1
TABLE=$(printf '%s' "$ROWS" | awk -v servers="$SERVERS" -v target="$TARGET" -v targetref="$TARGET_REF" '
function median(key,   n, i, j, v, tmp) {
    n = cnt[key]; if (n == 0) return "n/a"
    for (i = 1; i <= n; i++) tmp[i] = vals[key, i]
    for (i = 2; i <= n; i++) { v = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > v; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = v }
    lo[key] = tmp[1]; hi[key] = tmp[n]
    return (n % 2) ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2
}
function add(key, v) { if (v == "n/a") return; cnt[key]++; vals[key, cnt[key]] = v + 0 }
function f1(v) { return v == "n/a" ? "n/a" : sprintf("%.1f", v) }
{
    k = $2; keys[$1] = k; dbsize[$1] = $3
    add($1 SUBSEP "rss0", $4 / 1024); add($1 SUBSEP "rss1", $5 / 1024)
    add($1 SUBSEP "d", ($5 - $4) * 1024 / k); add($1 SUBSEP "t", $5 * 1024 / k)
    if ($6 != "n/a" && $7 != "n/a") { add($1 SUBSEP "ud", ($7 - $6) / k); add($1 SUBSEP "ut", $7 / k) }
}
END {
    printf "%-8s %9s %9s %9s %9s %10s %13s %9s %10s %9s\n", "server", "keys", "dbsize", "RSS0 MB", "RSS1 MB", "RSS d/key", "d/key range", "RSS /key", "used d/key", "used /key"
    ns = split(servers, S, " ")
    for (i = 1; i <= ns; i++) {
        s = S[i]; if (!(s in keys)) continue
        d = median(s SUBSEP "d")
        printf "%-8s %9s %9s %9s %9s %10s %13s %9s %10s %9s\n", s, keys[s], dbsize[s], f1(median(s SUBSEP "rss0")),
            f1(median(s SUBSEP "rss1")), f1(d), sprintf("%.0f-%.0f", lo[s SUBSEP "d"], hi[s SUBSEP "d"]),
            f1(median(s SUBSEP "t")), f1(median(s SUBSEP "ud")), f1(median(s SUBSEP "ut"))
        if (s == "kvasir") kd = d
        else if (d != "n/a" && (best == "" || d + 0 < best + 0)) { best = d; bestname = s }
    }
    if (kd == "") {}
    else if (!targetref) verdict = sprintf("target kvasir RSS d/key %.1f B %s %d B\n", kd, kd <= target ? "<=" : "ABOVE", target)
    else if (best != "") verdict = sprintf("target kvasir RSS d/entry %.1f B %s %s %.1f B\n", kd, kd <= best ? "<=" : "ABOVE", bestname, best)
    printf "%s", verdict
}')

HEADER="$(date -u '+%Y-%m-%d %H:%M UTC') | kvasir $(git_describe) | $KEYS x $DESCRIPTION | medians of $ROUNDS rounds | $(nproc) cores${KVASIR_ENV:+ | KVASIR_ENV: $KVASIR_ENV}"
echo "$HEADER"
echo "$TABLE"
echo "RSS d/key = (RSS after load - RSS at start) / keys (range: min-max over rounds); RSS /key = RSS after load / keys; used = INFO used_memory (n/a: no INFO yet). Bytes."

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
