#!/usr/bin/env bash
# A/B of two server binaries (two Kvasir builds, or Kvasir with two runtime settings) on the same
# keyspace workload: redis-benchmark SET and GET over -r KEYSPACE random keys, -c 50, at -P 1 and
# -P 16, the two servers alternating per run. Prints op/s and server CPU per request of each, and
# the median over rounds of B / A taken within each round (neighbouring runs share the machine's load).
#
# usage: bench/ab.sh [-n N] [-r ROUNDS] [-k KEYSPACE] [-t TESTS] [-P "1 16"] A_BIN B_BIN
#   A_BIN, B_BIN  server executables (kvasir-server builds, valkey-server...); each is started with
#                 --port --bind --save "" --appendonly no
#   -n N          requests per run at -P 1 (default 200000; -P 16 runs take 4x)
#   -r R          rounds (default 5)
#   -k K          redis-benchmark -r: random keys out of K (default 100000)
#   -t TESTS      redis-benchmark tests (default set,get)
# environment: A_ENV="X=1", B_ENV="Y=2" extra environment per side; BENCH_PORT first port to try.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=200000; ROUNDS=5; KEYSPACE=100000; TESTS="set,get"; PIPES="1 16"
while [ $# -gt 2 ]; do
    case $1 in
    -n) N=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    -k) KEYSPACE=$2; shift ;;
    -t) TESTS=$2; shift ;;
    -P) PIPES=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
[ $# = 2 ] || { sed -n '2,15p' "$0"; exit 1; }
A_BIN=$1 B_BIN=$2
ensure_redis_tools
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

start_ab() {  # start_ab SIDE BIN PORT -> AB_PID
    local envs=() var="${1}_ENV" root
    [ -n "${!var:-}" ] && read -r -a envs <<<"${!var}"
    env "${envs[@]}" "$2" --port "$3" --bind 127.0.0.1 --save "" --appendonly no --dir "$BENCH_OUT" >"$BENCH_OUT/ab-$1.log" 2>&1 &
    root=$!
    BENCH_PIDS+=("$root")
    wait_ready "$3" "$root" 120 || die "$2 did not start (log: $BENCH_OUT/ab-$1.log)"
    AB_PID=$(resolve_server_pid "$root")
    [ "$AB_PID" = "$root" ] || BENCH_PIDS+=("$AB_PID")
}
A_PORT=$(next_free_port "${BENCH_PORT:-7200}")
start_ab A "$A_BIN" "$A_PORT"; A_PID=$AB_PID
B_PORT=$(next_free_port $((A_PORT + 1)))
start_ab B "$B_BIN" "$B_PORT"; B_PID=$AB_PID

RAW="$BENCH_OUT/ab-$(date -u +%Y%m%d-%H%M%S).tsv"
: >"$RAW"
run() {  # run SIDE PORT PID P TEST ROUND
    local n=$N c0 c1 rps
    [ "$4" -gt 1 ] && n=$((N * 4))
    c0=$(cpu_ticks "$3")
    rps=$(timeout 600 redis-benchmark -p "$2" -t "$5" -c 50 -n "$n" -P "$4" -r "$KEYSPACE" --csv 2>/dev/null |
        tr -d '"' | awk -F, '$1 != "test" {print $2; exit}')
    c1=$(cpu_ticks "$3")
    printf '%s\t%s\t%s\t%s\t%s\t%.3f\n' "$1" "$4" "$5" "$6" "${rps:-0}" "$(echo "$((c1 - c0)) $CLK_TCK $n" | awk '{print $1 / $2 * 1e6 / $3}')" >>"$RAW"
}

log "warming up"
for p in $PIPES; do
    redis-benchmark -p "$A_PORT" -t "$TESTS" -c 50 -n $((N / 2)) -P "$p" -r "$KEYSPACE" -q >/dev/null 2>&1 || true
    redis-benchmark -p "$B_PORT" -t "$TESTS" -c 50 -n $((N / 2)) -P "$p" -r "$KEYSPACE" -q >/dev/null 2>&1 || true
done
IFS=, read -r -a TEST_LIST <<<"$TESTS"
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS"
    for p in $PIPES; do
        for t in "${TEST_LIST[@]}"; do
            if ((round % 2)); then
                run A "$A_PORT" "$A_PID" "$p" "$t" "$round"; run B "$B_PORT" "$B_PID" "$p" "$t" "$round"
            else
                run B "$B_PORT" "$B_PID" "$p" "$t" "$round"; run A "$A_PORT" "$A_PID" "$p" "$t" "$round"
            fi
        done
    done
done
stop_all
trap - EXIT INT TERM

echo "$(date -u '+%Y-%m-%d %H:%M UTC') | A: $A_BIN${A_ENV:+ ($A_ENV)} | B: $B_BIN${B_ENV:+ ($B_ENV)} | -c 50 -r $KEYSPACE -n $N (-P 16: 4x) | $ROUNDS rounds | load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' '
function median(arr, n,   i, j, v) {
    for (i = 2; i <= n; i++) { v = arr[i]; for (j = i - 1; j >= 1 && arr[j] > v; j--) arr[j + 1] = arr[j]; arr[j + 1] = v }
    return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{ k = $3 " -P " $2; rps[$1, k, $4] = $5; cpu[$1, k, $4] = $6; rounds[$4] = 1; if (!(k in seen)) { seen[k] = 1; order[++nk] = k } }
END {
    printf "%-12s %10s %10s %8s %9s %9s %8s %s\n", "test", "A op/s", "B op/s", "B/A", "A cpu us", "B cpu us", "B/A", "(B/A op/s per round)"
    for (i = 1; i <= nk; i++) {
        k = order[i]; n = 0; delete ra; delete rb; delete rr; delete ca; delete cb; delete rc; list = ""
        for (r in rounds) {
            if (!((("A", k, r) in rps) && (("B", k, r) in rps)) || rps["A", k, r] == 0) continue
            n++; ra[n] = rps["A", k, r]; rb[n] = rps["B", k, r]; rr[n] = rb[n] / ra[n]
            ca[n] = cpu["A", k, r]; cb[n] = cpu["B", k, r]; rc[n] = ca[n] > 0 ? cb[n] / ca[n] : 0
            list = list sprintf(" %.2f", rr[n])
        }
        if (n == 0) continue
        printf "%-12s %10.0f %10.0f %8.2f %9.2f %9.2f %8.2f %s\n", k, median(ra, n), median(rb, n), median(rr, n), median(ca, n), median(cb, n), median(rc, n), list
    }
}' "$RAW"
echo "op/s: higher is better; cpu us = server CPU (all threads) per request: lower is better. raw: $RAW"
