#!/usr/bin/env bash
# Throughput, latency and server CPU per request: Kvasir against a reference server in the same run.
#
# usage: bench/throughput.sh [-n N] [--n16 N] [-c CLIENTS] [-k KEYS] [-r ROUNDS] [-t TESTS] [-P "1 16"] [--record]
#   -n N        requests per test at -P 1 (default 100000)
#   --n16 N     requests per test at -P 16 and above (default 4*N: pipelined runs are short)
#   -c C        parallel connections (default 50)
#   -k KEYS     keyspace: requests spread over KEYS random keys (redis-benchmark -r), as real traffic
#               is; 0 sends every request to one key (default 100000)
#   -r R        rounds; each figure is the median over rounds (default 3)
#   -t TESTS    redis-benchmark tests (default: those of issue 14's targets,
#               set,get,incr,lpush,rpop,sadd,hset,zadd,mset,lrange_100)
#   -P LIST     pipeline depths (default "1 16")
#   --record    append the table to bench/RESULTS.md
#   --report F  only print the table of an earlier run's raw file (bench/out/throughput-*.tsv)
# environment:
#   KVASIR_ENV="A=1 B=2"   extra environment for the Kvasir process only (runtime knobs)
#   KVASIR_BIN=path        run this Kvasir binary instead of the repo's launcher/Release build
#   REDIS_SERVER=path      reference server binary (default: a Valkey built from source, as lib.sh's
#                          find_valkey finds it, else Debian's redis-server)
#   BENCH_PORT=7200        first port to try; free ports from there are used
#
# Servers run one at a time per test, alternating order, so both see the same machine noise.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000; N16=""; CLIENTS=50; KEYSPACE=100000; ROUNDS=3; TESTS="set,get,incr,lpush,rpop,sadd,hset,zadd,mset,lrange_100"; PIPES="1 16"; RECORD=0; REPORT=""
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift ;;
    --n16) N16=$2; shift ;;
    -c) CLIENTS=$2; shift ;;
    -k) KEYSPACE=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    -t) TESTS=$2; shift ;;
    -P) PIPES=$2; shift ;;
    --record) RECORD=1 ;;
    --report) REPORT=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
N16=${N16:-$((N * 4))}

# Rows in the order redis-benchmark names them, medians over rounds, ratios Kvasir / reference.
render_table() {
    awk -F'\t' -v tests="$TESTS" -v pipes="$PIPES" '
function median(key,   n, i, j, v, tmp) {
    n = cnt[key]; if (n == 0) return ""
    for (i = 1; i <= n; i++) tmp[i] = vals[key, i]
    for (i = 2; i <= n; i++) { v = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > v; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = v }
    return (n % 2) ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; vals[key, cnt[key]] = v + 0 }
# Ratios pair the two servers within a round (adjacent runs share the machine'"'"'s mood), then take
# the median over rounds: steadier than a ratio of two medians when the load drifts.
function ratio(p, t, m,   r, k, key) {
    key = "pair" SUBSEP p SUBSEP t SUBSEP m
    if (key in done) return done[key]
    for (r = 1; r <= maxr; r++) {
        k = "kvasir" SUBSEP p SUBSEP t SUBSEP m SUBSEP r
        if ((k in one) && (("ref" SUBSEP p SUBSEP t SUBSEP m SUBSEP r) in one) && one["ref" SUBSEP p SUBSEP t SUBSEP m SUBSEP r] > 0)
            add(key, one[k] / one["ref" SUBSEP p SUBSEP t SUBSEP m SUBSEP r])
    }
    return done[key] = cnt[key] ? sprintf("%.2f", median(key)) : "n/a"
}
function num(v, fmt) { return v == "" ? "n/a" : sprintf(fmt, v) }
{
    if (!(($2, $3) in seen)) { seen[$2, $3] = 1; order[$2] = order[$2] SUBSEP $3 }
    add($1 SUBSEP $2 SUBSEP $3 SUBSEP "rps", $5)
    add($1 SUBSEP $2 SUBSEP $3 SUBSEP "p50", $6)
    add($1 SUBSEP $2 SUBSEP $3 SUBSEP "p99", $7)
    add($1 SUBSEP $2 SUBSEP $3 SUBSEP "cpu", $8)
    one[$1, $2, $3, "rps", $4] = $5; one[$1, $2, $3, "p50", $4] = $6
    one[$1, $2, $3, "p99", $4] = $7; one[$1, $2, $3, "cpu", $4] = $8
    if ($4 > maxr) maxr = $4
}
END {
    printf "%-3s %-15s %12s %12s %6s %8s %8s %9s %9s %9s %9s %8s\n", "P", "test", "kvasir op/s", "ref op/s", "ratio", "p50 k/r", "p99 k/r", "p50 k ms", "p99 k ms", "cpu k us", "cpu r us", "cpu k/r"
    np = split(pipes, P, " ")
    for (pi = 1; pi <= np; pi++) {
        p = P[pi]
        nt = split(substr(order[p], 2), T, SUBSEP)
        for (ti = 1; ti <= nt; ti++) {
            t = T[ti]
            kr = median("kvasir" SUBSEP p SUBSEP t SUBSEP "rps"); rr = median("ref" SUBSEP p SUBSEP t SUBSEP "rps")
            k50 = median("kvasir" SUBSEP p SUBSEP t SUBSEP "p50"); r50 = median("ref" SUBSEP p SUBSEP t SUBSEP "p50")
            k99 = median("kvasir" SUBSEP p SUBSEP t SUBSEP "p99"); r99 = median("ref" SUBSEP p SUBSEP t SUBSEP "p99")
            kc = median("kvasir" SUBSEP p SUBSEP t SUBSEP "cpu"); rc = median("ref" SUBSEP p SUBSEP t SUBSEP "cpu")
            printf "%-3s %-15s %12s %12s %6s %8s %8s %9s %9s %9s %9s %8s\n", p, t, num(kr, "%.0f"), num(rr, "%.0f"), ratio(p, t, "rps"),
                ratio(p, t, "p50"), ratio(p, t, "p99"), num(k50, "%.3f"), num(k99, "%.3f"), num(kc, "%.2f"), num(rc, "%.2f"), ratio(p, t, "cpu")
            if (t == "SET" || t == "GET") {
                r = ratio(p, t, "rps")
                verdict = verdict sprintf("target %s -P %s: throughput ratio %s %s 0.90\n", t, p, r, (r != "n/a" && r + 0 >= 0.9) ? ">=" : "BELOW")
            }
        }
    }
    printf "%s", verdict
}' "$1"
}

if [ -n "$REPORT" ]; then render_table "$REPORT"; exit 0; fi

ensure_redis_tools
if [ -z "${REDIS_SERVER:-}" ]; then
    if find_valkey; then REDIS_SERVER=$VALKEY_SERVER; else ensure_tool redis-server redis-server; fi
fi
RANDOM_KEYS=()
[ "$KEYSPACE" -gt 0 ] && RANDOM_KEYS=(-r "$KEYSPACE")
REF_NAME=$(basename "${REDIS_SERVER:-redis-server}")
REF_VERSION=$("${REDIS_SERVER:-redis-server}" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')

trap 'stop_all' EXIT
trap 'exit 130' INT TERM

port=$(next_free_port "${BENCH_PORT:-7200}")
start_server kvasir "$port"
K_PORT=$port K_PID=$SERVER_PID
port=$(next_free_port $((port + 1)))
start_server redis "$port"
R_PORT=$port R_PID=$SERVER_PID
log "kvasir: port $K_PORT pid $K_PID ${KVASIR_ENV:+env: $KVASIR_ENV}"
log "$REF_NAME $REF_VERSION: port $R_PORT pid $R_PID"

# A command the server does not have yet is reported as n/a rather than timed as error replies.
probe_args() {
    case $1 in
    ping) echo "PING" ;;
    set) echo "SET bench:probe 1" ;;
    get) echo "GET bench:probe" ;;
    incr) echo "INCR bench:probe" ;;
    mset) echo "MSET bench:probe 1 bench:probe2 2" ;;
    lpush|rpush) echo "${1^^} bench:probe:list a" ;;
    lpop|rpop) echo "${1^^} bench:probe:list" ;;
    sadd) echo "SADD bench:probe:set a" ;;
    hset) echo "HSET bench:probe:hash f v" ;;
    spop) echo "SPOP bench:probe:set" ;;
    zadd) echo "ZADD bench:probe:zset 1 a" ;;
    lrange*) echo "LRANGE bench:probe:list 0 99" ;;
    *) echo "PING" ;;
    esac
}
supported() {  # supported PORT TEST
    local a
    read -r -a a <<<"$(probe_args "$2")"
    command_supported "$1" "${a[@]}"
}

RAW="$BENCH_OUT/throughput-$(date -u +%Y%m%d-%H%M%S).tsv"
: >"$RAW"
IFS=, read -r -a TEST_LIST <<<"$TESTS"

# run_one SERVER PORT PID P TEST ROUND: one redis-benchmark run, one line per result row into $RAW.
run_one() {
    local srv=$1 port=$2 pid=$3 p=$4 t=$5 round=$6 n=$N c0 c1 out err rows
    [ "$p" -gt 1 ] && n=$N16
    out="$BENCH_OUT/rb.csv" err="$BENCH_OUT/rb.err"
    c0=$(cpu_ticks "$pid")
    # redis-benchmark spins forever when the server goes away: bound every run.
    if ! timeout 600 redis-benchmark -p "$port" -t "$t" -c "$CLIENTS" -n "$n" -P "$p" ${RANDOM_KEYS[@]+"${RANDOM_KEYS[@]}"} --csv >"$out" 2>"$err"; then
        log "redis-benchmark failed on $srv ($t, -P $p): $(tail -1 "$err")"
        return 0
    fi
    c1=$(cpu_ticks "$pid")
    if grep -q "Error from server" "$err"; then
        log "$srv answered errors to $t: $(grep -m1 'Error from server' "$err")"
        return 0
    fi
    rows=$(grep -vc '^"test"' "$out" || true)
    [ "$rows" -gt 0 ] || return 0
    # CSV: test, rps, avg, min, p50, p95, p99, max (latencies in ms). CPU is shared by the rows of one run.
    tr -d '"' <"$out" | awk -F, -v srv="$srv" -v p="$p" -v r="$round" -v n="$n" -v rows="$rows" \
        -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" '
        $1 != "test" { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\n", srv, p, $1, r, $2, $5, $7, ticks / hz * 1e6 / (n * rows) }' >>"$RAW"
}

declare -A K_OK R_OK
for t in "${TEST_LIST[@]}"; do
    if supported "$K_PORT" "$t"; then K_OK[$t]=1; else K_OK[$t]=0; log "kvasir: $t not supported yet -> n/a"; fi
    if supported "$R_PORT" "$t"; then R_OK[$t]=1; else R_OK[$t]=0; log "$REF_NAME: $t not supported -> n/a"; fi
done

# Warm-up (JIT tiering, pools) is not measured.
log "warming up"
for p in $PIPES; do
    for t in "${TEST_LIST[@]}"; do
        [ "${K_OK[$t]}" = 1 ] && timeout 300 redis-benchmark -p "$K_PORT" -t "$t" -c "$CLIENTS" -n $((N / 2)) -P "$p" ${RANDOM_KEYS[@]+"${RANDOM_KEYS[@]}"} -q >/dev/null 2>&1 || true
    done
done

for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS"
    for p in $PIPES; do
        for t in "${TEST_LIST[@]}"; do
            if ((round % 2)); then order="kvasir ref"; else order="ref kvasir"; fi
            for srv in $order; do
                if [ "$srv" = kvasir ]; then
                    [ "${K_OK[$t]}" = 1 ] && run_one kvasir "$K_PORT" "$K_PID" "$p" "$t" "$round"
                else
                    [ "${R_OK[$t]}" = 1 ] && run_one ref "$R_PORT" "$R_PID" "$p" "$t" "$round"
                fi
            done
        done
    done
done

stop_all
trap - EXIT INT TERM

TABLE=$(render_table "$RAW")

# Tests the servers lack never produced rows: name them so the table says n/a for them.
MISSING=""
for t in "${TEST_LIST[@]}"; do
    [ "${K_OK[$t]}" = 0 ] && MISSING+="${MISSING:+, }$t"
done

HEADER="$(date -u '+%Y-%m-%d %H:%M UTC') | kvasir $(git_describe) | ref $REF_NAME $REF_VERSION | -c $CLIENTS -n $N (-P>1: -n $N16) | keyspace ${KEYSPACE/#0/one key} | rounds $ROUNDS | $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)${KVASIR_ENV:+ | KVASIR_ENV: $KVASIR_ENV}"
echo "$HEADER"
echo "$TABLE"
[ -n "$MISSING" ] && echo "kvasir n/a (unknown command): $MISSING"
echo "k/r ratios = median over rounds of kvasir / ref in the same round (throughput: higher is better; latency, cpu: lower is better). cpu = server CPU us per request. raw: $RAW"

if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "### $(date -u +%Y-%m-%d) throughput${KVASIR_ENV:+ (KVASIR_ENV: $KVASIR_ENV)}"
        echo
        echo '```'
        echo "$HEADER"
        echo "$TABLE"
        [ -n "$MISSING" ] && echo "kvasir n/a (unknown command): $MISSING"
        echo '```'
    } >>"$BENCH_DIR/RESULTS.md"
    log "recorded in bench/RESULTS.md"
fi
