#!/usr/bin/env bash
# The cost of the built-in metrics endpoint (metrics-port), measured in the same run:
#  1. SET/GET throughput while Prometheus scrapes /metrics every second, against the same server
#     with metrics-port 0 (target: ratio >= 0.98). Each scrape reads INFO ALL under the data lock.
#  2. metrics-port on but idle, against off: nothing runs on the command path either way.
#  3. With BASELINE_BIN (a Kvasir built without the metrics code, e.g. main before it): this
#     branch with metrics off against that build, on separate servers (the hot path is unchanged).
#
# usage: bench/metrics.sh [-n N] [-c CLIENTS] [-r ROUNDS] [-P "1 16"] [--interval S] [--record]
#   -n N          requests per run (default 200000; 4*N at -P 16 and above)
#   -c C          parallel connections (default 50)
#   -r R          rounds; figures are medians of per-round ratios (default 5)
#   -P LIST       pipeline depths (default "1 16")
#   --interval S  seconds between scrapes (default 1)
#   --record      append the output to bench/RESULTS.md
# environment: KVASIR_BIN, BASELINE_BIN, BENCH_PORT (first port tried, default 7200)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=200000; CLIENTS=50; ROUNDS=5; PIPES="1 16"; INTERVAL=1; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift ;;
    -c) CLIENTS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    -P) PIPES=$2; shift ;;
    --interval) INTERVAL=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
ensure_redis_tools
ensure_tool curl curl
SCRAPER_PID=""
trap '[ -n "$SCRAPER_PID" ] && kill "$SCRAPER_PID" 2>/dev/null; stop_all' EXIT
OUT="$BENCH_OUT/metrics-$(date +%Y%m%d-%H%M%S).txt"

bench() {  # bench PORT P TEST: requests per second of one run
    local port=$1 p=$2 t=$3 n=$N
    [ "$p" -gt 1 ] && n=$((N * 4))
    timeout 600 redis-benchmark -p "$port" -t "$t" -c "$CLIENTS" -n "$n" -P "$p" -r 100000 --csv 2>/dev/null |
        awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2; exit }'
}

spread() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%s..%s", v[1], v[NR] }'; }

# A Prometheus stand-in: GET /metrics every INTERVAL seconds until killed; counts the scrapes.
start_scraper() {  # start_scraper METRICS_PORT COUNT_FILE
    ( n=0; while true; do
          curl -fsS -o /dev/null "http://127.0.0.1:$1/metrics" && n=$((n + 1)) && echo "$n" >"$2"
          sleep "$INTERVAL"
      done ) &
    SCRAPER_PID=$!
}
stop_scraper() { [ -n "$SCRAPER_PID" ] && { kill "$SCRAPER_PID" 2>/dev/null; wait "$SCRAPER_PID" 2>/dev/null || true; }; SCRAPER_PID=""; }

# One measurement of a state: "off" (metrics-port 0), "idle" (on, no scrapes), "scraped".
measure() {  # measure STATE PORT METRICS_PORT P TEST
    local state=$1 port=$2 mport=$3 p=$4 t=$5 x
    case $state in
    off) redis-cli -p "$port" CONFIG SET metrics-port 0 >/dev/null ;;
    idle|scraped) redis-cli -p "$port" CONFIG SET metrics-port "$mport" >/dev/null ;;
    esac
    [ "$state" = scraped ] && start_scraper "$mport" "$BENCH_OUT/scrapes.count"
    x=$(bench "$port" "$p" "$t")
    [ "$state" = scraped ] && stop_scraper
    echo "$x"
}

# ratios NAME STATE_A STATE_B PORT MPORT: per test and depth, the median over rounds of A/B, order alternating
ratios() {
    local name=$1 a=$2 b=$3 port=$4 mport=$5 p t r x y
    for p in $PIPES; do
        for t in set get; do
            local list=()
            for ((r = 1; r <= ROUNDS; r++)); do
                if ((r % 2)); then x=$(measure "$a" "$port" "$mport" "$p" "$t"); y=$(measure "$b" "$port" "$mport" "$p" "$t")
                else y=$(measure "$b" "$port" "$mport" "$p" "$t"); x=$(measure "$a" "$port" "$mport" "$p" "$t"); fi
                [ -n "$x" ] && [ -n "$y" ] && list+=("$(awk -v a="$x" -v b="$y" 'BEGIN { printf "%.3f", a / b }')")
            done
            printf '%s\t-P %s\t%s\t%s\t(rounds %s)\n' "$name" "$p" "${t^^}" "$(printf '%s\n' "${list[@]}" | median)" "$(printf '%s\n' "${list[@]}" | spread)"
        done
    done
}

{
echo "# bench/metrics.sh $(git_describe), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), -n $N -c $CLIENTS, $ROUNDS rounds, a scrape every ${INTERVAL}s"
port=$(next_free_port "${BENCH_PORT:-7200}")
mport=$(next_free_port "$((port + 1))")
start_server kvasir "$port"
echo 0 >"$BENCH_OUT/scrapes.count"
echo "## scraped every ${INTERVAL}s / metrics off, same server"
ratios "scraped/off" scraped off "$port" "$mport"
redis-cli -p "$port" CONFIG SET metrics-port "$mport" >/dev/null
echo "scrapes served: $(cat "$BENCH_OUT/scrapes.count") in the last scraped run; one scrape held the lock $(curl -fsS "http://127.0.0.1:$mport/metrics" 2>/dev/null | awk '$1 == "kvasir_metrics_info_lock_seconds" { printf "%.0f us", $2 * 1e6 }')"
echo "## metrics on, not scraped / metrics off, same server"
ratios "idle/off" idle off "$port" "$mport"
stop_all
if [ -n "${BASELINE_BIN:-}" ]; then
    echo "## this build, metrics off / BASELINE_BIN ($BASELINE_BIN), separate servers"
    port2=$(next_free_port "$((mport + 1))")
    start_server kvasir "$port"
    here=$port
    KVASIR_BIN=$BASELINE_BIN start_server kvasir "$port2"
    for p in $PIPES; do
        for t in set get; do
            list=()
            for ((r = 1; r <= ROUNDS; r++)); do
                if ((r % 2)); then x=$(bench "$here" "$p" "$t"); y=$(bench "$port2" "$p" "$t")
                else y=$(bench "$port2" "$p" "$t"); x=$(bench "$here" "$p" "$t"); fi
                [ -n "$x" ] && [ -n "$y" ] && list+=("$(awk -v a="$x" -v b="$y" 'BEGIN { printf "%.3f", a / b }')")
            done
            printf 'off/baseline\t-P %s\t%s\t%s\t(rounds %s)\n' "$p" "${t^^}" "$(printf '%s\n' "${list[@]}" | median)" "$(printf '%s\n' "${list[@]}" | spread)"
        done
    done
    stop_all
fi
echo "target: scraped/off >= 0.98 for SET and GET"
} | tee "$OUT"

if [ "$RECORD" = 1 ]; then
    { echo; echo '```'; cat "$OUT"; echo '```'; } >>"$REPO_ROOT/bench/RESULTS.md"
fi
