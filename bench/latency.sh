#!/usr/bin/env bash
# Latency with a big keyspace, and the garbage collector's pauses under write load: Kvasir against a
# reference server (a Valkey built from source, else Debian's redis-server) in the same run, one
# server at a time, alternating which goes first.
#
#   1. Tail latency: KEYS keys resident (`SET key:%012d val:%d`, loaded with redis-cli --pipe, the
#      names redis-benchmark's -r draws), then SET and GET over random keys among them at -P 1 with
#      50 clients: p50, p99 and max latency and server CPU per request; ratios Kvasir / reference.
#   2. GC pauses: BIG keys resident, a quiet minute (so INFO's last-minute maximum starts clean),
#      then SET over random keys at -P 16 for about SECONDS: the pauses INFO kvasir saw meanwhile, how
#      many exceeded 10 ms and the longest of the last minute; the reference's max latency beside it.
#
# usage: bench/latency.sh [-n KEYS] [-N BIG] [-s SECONDS] [-r ROUNDS] [--record]
#   -n KEYS     keys resident for the tail latency runs (default 5000000; 0 skips them)
#   -N BIG      keys resident for the GC pause run (default 10000000; 0 skips it)
#   -s SECONDS  length of the write load of the GC pause run (default 60)
#   -r ROUNDS   rounds of the tail latency runs; figures are medians (default 2)
#   --gc-kvasir-only  the GC pause run without the reference (to compare runtime settings via KVASIR_ENV)
#   --ttl SECONDS     the GC pause run as a cache: every key loaded with that TTL, written with SETEX
#               (default 0: SET, no TTL)
#   --record    append the table to bench/RESULTS.md
# environment: REDIS_SERVER or VALKEY_SERVER (reference binary), KVASIR_BIN, KVASIR_ENV, BENCH_PORT (default 7250)
#
# Targets (issue 14): with 5M keys, p99 <= 1.0x and max <= 1.5x the reference's at -P 1; no GC pause
# over 10 ms while serving 10M keys under write load.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEYS=5000000; BIG=10000000; SECONDS_LOAD=60; ROUNDS=2; RECORD=0; GC_SERVERS="kvasir ref"; TTL=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -N) BIG=$2; shift ;;
    -s) SECONDS_LOAD=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    --gc-kvasir-only) GC_SERVERS=kvasir ;;
    --ttl) TTL=$2; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
if [ -z "${REDIS_SERVER:-}" ]; then
    if find_valkey; then REDIS_SERVER=$VALKEY_SERVER; else ensure_tool redis-server redis-server; REDIS_SERVER=$(command -v redis-server); fi
fi
REF_NAME=$(basename "$REDIS_SERVER")
LOAD="$BENCH_OUT/latency-load.resp"
trap 'stop_all; rm -f "$LOAD"' EXIT
trap 'exit 130' INT TERM

# gen_load N [TTL]: N string keys as redis-benchmark -r names them (key:%012d), in RESP for
# redis-cli --pipe; with a TTL, each gets it (SET ... EX TTL).
gen_load() {
    awk -v n="$1" -v ttl="${2:-0}" 'BEGIN {
        for (i = 0; i < n; i++) {
            v = "val:" i
            if (ttl > 0)
                printf "*5\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$%d\r\n%d\r\n", i, length(v), v, length(ttl ""), ttl
            else
                printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, length(v), v
        }
    }' >"$LOAD"
}

# start SRV: one server on a free port; sets PORT and PID.
start() {
    local port
    port=$(next_free_port "${BENCH_PORT:-7250}")
    if [ "$1" = kvasir ]; then start_server kvasir "$port"; else start_server redis "$port"; fi
    PORT=$port PID=$SERVER_PID
}

load_keys() {  # load_keys N: loads the generated keys and checks DBSIZE
    local out size
    out=$(timeout 1800 redis-cli -p "$PORT" --pipe <"$LOAD" 2>&1 | tr -d '\r' | tail -1)
    size=$(redis-cli -p "$PORT" dbsize | tr -d '\r')
    [ "$size" = "$1" ] || die "expected $1 keys after loading, got $size ($out)"
}

# tail_run TEST: redis-benchmark at -P 1 over the resident keys; prints "p50 p99 max cpu_us".
tail_run() {
    local n=200000 c0 c1 csv
    c0=$(cpu_ticks "$PID")
    csv=$(redis-benchmark -p "$PORT" -t "$1" -c 50 -n $n -P 1 -r "$KEYS" --csv 2>/dev/null | tr -d '"' | grep -v '^test')
    c1=$(cpu_ticks "$PID")
    # CSV: test, rps, avg, min, p50, p95, p99, max (ms)
    echo "$csv" | awk -F, -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" -v n=$n '{ printf "%s %s %s %.2f\n", $5, $7, $8, ticks / hz * 1e6 / n }'
}

info_num() { info_field "$PORT" kvasir "$1"; }


declare -A V
rows=()
[ "$KEYS" -gt 0 ] || ROUNDS=0
[ "$ROUNDS" -gt 0 ] && { log "generating $KEYS keys"; gen_load "$KEYS"; }
for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order="kvasir ref"; else order="ref kvasir"; fi
    for srv in $order; do
        log "round $round/$ROUNDS: $srv, loading $KEYS keys"
        start "$srv"
        load_keys "$KEYS"
        redis-benchmark -p "$PORT" -t get -c 50 -n 50000 -r "$KEYS" -q >/dev/null 2>&1 # warm-up
        for t in set get; do
            read -r p50 p99 max cpu < <(tail_run "$t")
            V[$srv,$t,p50]+="$p50 " V[$srv,$t,p99]+="$p99 " V[$srv,$t,max]+="$max " V[$srv,$t,cpu]+="$cpu "
            rows+=("| $round | $srv | ${t^^} | $p50 | $p99 | $max | $cpu |")
        done
        stop_all
    done
done

med() { printf '%s\n' ${V[$1]} | median; }
ratio() { echo "$(med "kvasir,$1")" "$(med "ref,$1")" | awk '{ printf "%.2f", ($2 > 0) ? $1 / $2 : 0 }'; }

gc_rows=()
if [ "$BIG" -gt 0 ]; then
    log "generating $BIG keys$([ "$TTL" -gt 0 ] && echo " (TTL $TTL s)")"
    gen_load "$BIG" "$TTL"
    # The write load: SET, or SETEX keeping every key volatile (a cache).
    if [ "$TTL" -gt 0 ]; then write=(SETEX "key:__rand_int__" "$TTL" xxx); write_name="SETEX (TTL $TTL s)"; else write=(-t set); write_name=SET; fi
    for srv in $GC_SERVERS; do
        log "GC pause run: $srv, loading $BIG keys"
        start "$srv"
        load_keys "$BIG"
        log "quiet minute"
        sleep 61
        # Long enough for ~SECONDS at this server's rate (measured on a short run first).
        rps=$(redis-benchmark -p "$PORT" -c 50 -n 200000 -P 16 -r "$BIG" --csv "${write[@]}" 2>/dev/null | tr -d '"' | awk -F, 'NR == 2 {print int($2)}')
        n=$((rps * SECONDS_LOAD))
        [ "$srv" = kvasir ] && { p0=$(info_num gc_pauses); l0=$(info_num gc_pauses_over_10ms); }
        csv=$(redis-benchmark -p "$PORT" -c 50 -n "$n" -P 16 -r "$BIG" --csv "${write[@]}" 2>/dev/null | tr -d '"' | awk 'NR == 2')
        max=$(echo "$csv" | awk -F, '{print $8}')
        p99=$(echo "$csv" | awk -F, '{print $7}')
        if [ "$srv" = kvasir ]; then
            p1=$(info_num gc_pauses); l1=$(info_num gc_pauses_over_10ms); rmax=$(info_num gc_pause_recent_max_usec)
            gc_rows+=("| Kvasir | $n | $p99 | $max | $((p1 - p0)) | $((l1 - l0)) | $(awk -v u="$rmax" 'BEGIN {printf "%.1f", u / 1000}') |")
            GC_LONG=$((l1 - l0))
        else
            gc_rows+=("| $REF_NAME | $n | $p99 | $max | (no GC) | | |")
        fi
        stop_all
    done
fi

table=$(
    echo "### Latency ($(date -u +%Y-%m-%d), $(git_describe), kvasir vs $REF_NAME, load $(cut -d' ' -f1-3 /proc/loadavg)${KVASIR_ENV:+, KVASIR_ENV: $KVASIR_ENV})"
    if [ ${#rows[@]} -gt 0 ]; then
        echo
        echo "$KEYS keys resident, -P 1, 50 clients:"
        echo
        echo "| round | server | test | p50 ms | p99 ms | max ms | CPU us/req |"
        echo "| --- | --- | --- | --- | --- | --- | --- |"
        printf '%s\n' "${rows[@]}"
        echo
        for t in set get; do
            printf 'target %s p99 <= 1.0x: %s; max <= 1.5x: %s; CPU per request: %s\n' "${t^^}" "$(ratio "$t,p99")" "$(ratio "$t,max")" "$(ratio "$t,cpu")"
        done
    fi
    if [ ${#gc_rows[@]} -gt 0 ]; then
        echo
        echo "GC pauses with $BIG keys resident, $write_name -P 16 over random keys for ~${SECONDS_LOAD} s:"
        echo
        echo "| server | requests | p99 ms | max ms | GC pauses | over 10 ms | longest pause, last minute (ms) |"
        echo "| --- | --- | --- | --- | --- | --- | --- |"
        printf '%s\n' "${gc_rows[@]}"
        echo
        echo "target no GC pause over 10 ms: $([ "${GC_LONG:-1}" = 0 ] && echo met || echo "not met (${GC_LONG:-?})")"
    fi
)
echo "$table"
[ "$RECORD" = 1 ] && { echo; echo "$table"; } >>"$BENCH_DIR/RESULTS.md"
exit 0
