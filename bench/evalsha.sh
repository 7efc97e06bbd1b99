#!/usr/bin/env bash
# EVALSHA of a small INCR script: Kvasir against Valkey in the same run (the scripting engine's
# cost per call: lookup by SHA, running the cached function, server.call, the reply).
#
# usage: bench/evalsha.sh [-n N] [-c CLIENTS] [-r ROUNDS] [-P "1 16"] [--record]
#   -n N        requests per run at -P 1 (default 200000; -P 16 runs 4*N)
#   -c C        parallel connections (default 50)
#   -r R        rounds; each ratio is the median over rounds of same-round pairs (default 3)
#   -P LIST     pipeline depths (default "1 16")
#   --record    append the table to bench/RESULTS.md
# environment:
#   VALKEY_SERVER=path   reference (default: /work/valkey/src/valkey-server, ~/valkey/src/valkey-server,
#                        else Debian's redis-server)
#   KVASIR_BIN, KVASIR_ENV, BENCH_PORT as in throughput.sh
#
# Target (issue 16): ratio Kvasir / reference >= 1.0 at -P 16.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=200000; CLIENTS=50; ROUNDS=3; PIPES="1 16"; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift ;;
    -c) CLIENTS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    -P) PIPES=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
REF=valkey
if ! find_valkey; then
    ensure_tool redis-server redis-server
    REF=redis
fi
export VALKEY_SERVER

SCRIPT="return redis.call('INCR', KEYS[1])"
trap 'stop_all' EXIT
port=$(next_free_port "${BENCH_PORT:-7200}")
RAW="$BENCH_OUT/evalsha-$(date +%Y%m%d-%H%M%S).tsv"
: >"$RAW"

# run_one SERVER P ROUND: start the server, load the script, one redis-benchmark run; prints op/s.
run_one() {
    local srv=$1 p=$2 n=$N
    [ "$p" -gt 1 ] && n=$((N * 4))
    start_server "$srv" "$port"
    local pid=$SERVER_PID root=$SERVER_ROOT_PID sha
    sha=$(redis-cli -p "$port" SCRIPT LOAD "$SCRIPT")
    # A short warm-up (JIT tiers for Kvasir, caches for both), then the measured run.
    timeout 300 redis-benchmark -p "$port" -c "$CLIENTS" -n $((n / 4)) -P "$p" EVALSHA "$sha" 1 bench:counter >/dev/null 2>&1 || true
    local before after csv rps
    before=$(cpu_ticks "$pid")
    csv=$(timeout 600 redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$p" --csv EVALSHA "$sha" 1 bench:counter 2>/dev/null | tail -1)
    after=$(cpu_ticks "$pid")
    rps=$(echo "$csv" | awk -F'","' '{gsub(/"/, "", $2); print $2}')
    stop_server "$root" "$pid"
    BENCH_PIDS=()
    printf '%s\t%s\t%s\t%s\n' "$srv" "$p" "${rps:-0}" "$((after - before))" >>"$RAW"
}

for ((r = 1; r <= ROUNDS; r++)); do
    for p in $PIPES; do
        if [ $((r % 2)) = 1 ]; then run_one kvasir "$p"; run_one "$REF" "$p"
        else run_one "$REF" "$p"; run_one kvasir "$p"; fi
    done
done

table=$(awk -F'\t' -v pipes="$PIPES" -v ref="$REF" '
function median(a, n,   i, j, v) {
    for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $1 SUBSEP $2; c[k]++; rps[k, c[k]] = $3 }
END {
    printf "| EVALSHA (INCR script), -c '"$CLIENTS"' | Kvasir op/s | %s op/s | ratio |\n| --- | --- | --- | --- |\n", ref
    np = split(pipes, P, " ")
    for (i = 1; i <= np; i++) {
        p = P[i]; n = c["kvasir" SUBSEP p]
        delete kv; delete rv; delete ra
        for (j = 1; j <= n; j++) { kv[j] = rps["kvasir", p, j]; rv[j] = rps[ref, p, j]; ra[j] = (rv[j] > 0) ? kv[j] / rv[j] : 0 }
        mk = median(kv, n); mr = median(rv, n); m = median(ra, n)
        printf "| -P %s | %.0f | %.0f | %.2f |\n", p, mk, mr, m
        if (p == 16) target = m
    }
    if (target != "") printf "\ntarget EVALSHA -P 16 ratio >= 1.00: %.2f %s\n", target, (target >= 1.0 ? "PASS" : "FAIL")
}' "$RAW")
echo "$table"
if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "## EVALSHA ($(date +%Y-%m-%d), $(git_describe), $(nproc) cores, $ROUNDS rounds)"
        echo
        echo "$table"
    } >>"$BENCH_DIR/RESULTS.md"
fi
