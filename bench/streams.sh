#!/usr/bin/env bash
# Stream throughput: Kvasir against a reference server in the same run (issue 12).
#
# usage: bench/streams.sh [-n N] [-c CLIENTS] [-r ROUNDS] [--record]
#   -n N        requests per test (default 100000; at -P 16 four times as many)
#   -c C        parallel connections (default 50)
#   -r R        rounds; each figure is the median over rounds (default 3)
#   --record    append the table to bench/RESULTS.md
# environment:
#   REDIS_SERVER=path   reference server (default: Debian's redis-server; VALKEY_SERVER=path for Valkey)
#   KVASIR_ENV, KVASIR_BIN, BENCH_PORT as for throughput.sh
#
# Tests (redis-benchmark with explicit commands, one stream key per test):
#   XADD -P 1, XADD -P 16        XADD s * f v, the stream growing to N entries
#   XREAD COUNT 10               XREAD COUNT 10 STREAMS r 0 over a stream of 1000 entries
#   XREADGROUP, XACK             a stream of N entries with IDs 1..N and a group: XREADGROUP ... COUNT 1
#                                STREAMS q > delivers every entry once (the PEL grows to N), then
#                                XACK q g <random ID> removes them again; "XREADGROUP+XACK" is the
#                                rate of the pair (N reads and N acknowledgements over their total time)
# Servers run one at a time per test, alternating order, so both see the same machine noise.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000; CLIENTS=50; ROUNDS=3; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift ;;
    -c) CLIENTS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
REF_BIN=${VALKEY_SERVER:-${REDIS_SERVER:-}}
[ -n "$REF_BIN" ] || { ensure_tool redis-server redis-server; REF_BIN=redis-server; }
REF_NAME=$(basename "$REF_BIN")
REF_VERSION=$("$REF_BIN" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
REDIS_SERVER=$REF_BIN

trap 'stop_all; rm -f "$BENCH_OUT/streams-fill.resp"' EXIT
trap 'exit 130' INT TERM

port=$(next_free_port "${BENCH_PORT:-7200}")
start_server kvasir "$port"
K_PORT=$port K_PID=$SERVER_PID
port=$(next_free_port $((port + 1)))
start_server redis "$port"
R_PORT=$port R_PID=$SERVER_PID
log "kvasir: port $K_PORT pid $K_PID; $REF_NAME $REF_VERSION: port $R_PORT pid $R_PID"

# The group workload's stream: IDs 1-0 .. N-0, so XACK can name IDs with __rand_int__ (redis-benchmark
# pads it with zeros, which the ID parser's strtoull accepts).
FILL="$BENCH_OUT/streams-fill.resp"
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) { id = i "-0"; printf "*5\r\n$4\r\nXADD\r\n$1\r\nq\r\n$%d\r\n%s\r\n$1\r\nf\r\n$1\r\nv\r\n", length(id), id } }' >"$FILL"

RAW="$BENCH_OUT/streams-$(date -u +%Y%m%d-%H%M%S).tsv"
: >"$RAW"

# bench SERVER PORT PID ROUND TEST P N COMMAND...: one redis-benchmark run, op/s and CPU us per request into $RAW.
bench() {
    local srv=$1 port=$2 pid=$3 round=$4 test=$5 p=$6 n=$7 c0 c1 out secs
    shift 7
    c0=$(cpu_ticks "$pid")
    secs=$(date +%s.%N)
    out=$(timeout 600 redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$p" -r "$N" --csv "$@" 2>&1 | tr -d '"' | awk -F, 'NR > 1 && $2 ~ /^[0-9.]+$/ {print $2; exit}')
    secs=$(awk -v a="$secs" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    c1=$(cpu_ticks "$pid")
    [ -n "$out" ] || { log "$srv: $test failed"; return 0; }
    awk -v s="$srv" -v t="$test" -v r="$round" -v o="$out" -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" -v secs="$secs" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%.3f\t%s\n", s, t, r, o, ticks / hz * 1e6 / n, secs }' >>"$RAW"
}

# One round of every test against one server, from a fresh keyspace.
round_for() {
    local srv=$1 port=$2 pid=$3 round=$4
    redis-cli -p "$port" flushall >/dev/null
    bench "$srv" "$port" "$pid" "$round" "XADD -P 1" 1 "$N" XADD s '*' f v
    bench "$srv" "$port" "$pid" "$round" "XADD -P 16" 16 $((N * 4)) XADD s16 '*' f v
    redis-cli -p "$port" eval "for i = 1, 1000 do redis.call('XADD', KEYS[1], '*', 'field', 'value' .. i) end" 1 r >/dev/null
    bench "$srv" "$port" "$pid" "$round" "XREAD COUNT 10" 1 "$N" XREAD COUNT 10 STREAMS r 0
    redis-cli -p "$port" --pipe <"$FILL" >/dev/null
    redis-cli -p "$port" xgroup create q g 0 >/dev/null
    bench "$srv" "$port" "$pid" "$round" "XREADGROUP" 1 "$N" XREADGROUP GROUP g c COUNT 1 STREAMS q '>'
    bench "$srv" "$port" "$pid" "$round" "XACK" 1 "$N" XACK q g __rand_int__
}

log "warming up"
round_for kvasir "$K_PORT" "$K_PID" 0
: >"$RAW"
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS"
    if ((round % 2)); then order="kvasir ref"; else order="ref kvasir"; fi
    for srv in $order; do
        if [ "$srv" = kvasir ]; then round_for kvasir "$K_PORT" "$K_PID" "$round"
        else round_for ref "$R_PORT" "$R_PID" "$round"; fi
    done
done

stop_all
trap - EXIT INT TERM

TABLE=$(awk -F'\t' '
function median(key,   n, i, j, v, tmp) {
    n = cnt[key]; if (n == 0) return ""
    for (i = 1; i <= n; i++) tmp[i] = vals[key, i]
    for (i = 2; i <= n; i++) { v = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > v; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = v }
    return (n % 2) ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; vals[key, cnt[key]] = v + 0 }
{
    if (!($2 in seen)) { seen[$2] = 1; order[++nt] = $2 }
    add($1 SUBSEP $2 SUBSEP "rps", $4); add($1 SUBSEP $2 SUBSEP "cpu", $5)
    rps[$1, $2, $3] = $4
    if ($2 == "XREADGROUP" || $2 == "XACK") pairsecs[$1, $3] += $6
    rounds[$3] = 1
}
END {
    printf "%-16s %12s %12s %6s %9s %9s %8s\n", "test", "kvasir op/s", "ref op/s", "ratio", "cpu k us", "cpu r us", "cpu k/r"
    for (t = 1; t <= nt; t++) {
        name = order[t]
        kr = median("kvasir" SUBSEP name SUBSEP "rps"); rr = median("ref" SUBSEP name SUBSEP "rps")
        kc = median("kvasir" SUBSEP name SUBSEP "cpu"); rc = median("ref" SUBSEP name SUBSEP "cpu")
        for (r in rounds) {
            kk = "kvasir" SUBSEP name SUBSEP r; rk = "ref" SUBSEP name SUBSEP r
            if ((kk in rps) && (rk in rps) && rps[rk] > 0) add("ratio" SUBSEP name, rps[kk] / rps[rk])
        }
        ratio = median("ratio" SUBSEP name)
        printf "%-16s %12.0f %12.0f %6.2f %9.2f %9.2f %8.2f\n", name, kr, rr, ratio, kc, rc, (rc > 0 ? kc / rc : 0)
        verdict = verdict sprintf("target %s: throughput ratio %.2f %s 1.00\n", name, ratio, ratio >= 1.0 ? ">=" : "BELOW")
    }
    for (r in rounds) {
        kk = "kvasir" SUBSEP r; rk = "ref" SUBSEP r
        if ((kk in pairsecs) && (rk in pairsecs) && pairsecs[kk] > 0) add("pair", pairsecs[rk] / pairsecs[kk])
    }
    if (cnt["pair"]) {
        p = median("pair")
        printf "%-16s %12s %12s %6.2f\n", "XREADGROUP+XACK", "", "", p
        verdict = verdict sprintf("target XREADGROUP+XACK: throughput ratio %.2f %s 1.00\n", p, p >= 1.0 ? ">=" : "BELOW")
    }
    printf "%s", verdict
}' "$RAW")

HEADER="$(date -u '+%Y-%m-%d %H:%M UTC') | kvasir $(git_describe) | ref $REF_NAME $REF_VERSION | -c $CLIENTS -n $N | rounds $ROUNDS | $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$HEADER"
echo "$TABLE"
echo "ratio = median over rounds of kvasir / ref op/s in the same round; cpu = server CPU us per request; XREADGROUP+XACK = ref time / kvasir time for both. raw: $RAW"

if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "### $(date -u +%Y-%m-%d) streams"
        echo
        echo '```'
        echo "$HEADER"
        echo "$TABLE"
        echo '```'
    } >>"$BENCH_DIR/RESULTS.md"
    log "recorded in bench/RESULTS.md"
fi
