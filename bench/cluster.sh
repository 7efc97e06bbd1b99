#!/usr/bin/env bash
# Cluster mode: Kvasir against a reference server (Valkey built from source, else redis-server) in the
# same run, each as a cluster of three primaries of its own kind.
#
#   1. redis-benchmark --cluster SET and GET throughput (50 clients, -P 16, keys over -r 100000), and
#      the CPU the three servers spend per request (the benchmark client shares the cores).
#   2. Moving one hash slot holding KEYS keys to another primary, as redis-cli --cluster reshard does
#      it (SETSLOT, GETKEYSINSLOT + MIGRATE ... KEYS in batches of 1000): seconds for the move.
#
# usage: bench/cluster.sh [-n KEYS] [-r ROUNDS] [--record]
#   -n KEYS     keys in the migrated slot (default 100000)
#   -r ROUNDS   rounds, servers alternating; ratios are medians of same-round pairs (default 3)
#   --record    append the table to bench/RESULTS.md
# environment: VALKEY_SERVER=path (default /work/valkey/src/valkey-server, ~/valkey/src/valkey-server,
#              else Debian's redis-server), KVASIR_BIN, BENCH_PORT (first client port, default 7300;
#              bus ports are 10000 above)
#
# Targets (issue 11): SET and GET throughput ratios >= 1.0; slot migration time ratio <= 1.0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEYS=100000; ROUNDS=3; RECORD=0; REQUESTS=4000000
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
/usr/bin/python3 -c 'import redis' 2>/dev/null || ensure_tool python3 python3-redis
if ! find_valkey; then
    ensure_tool redis-server redis-server
    VALKEY_SERVER=$(command -v redis-server)
fi
REF_NAME=$(basename "$VALKEY_SERVER")
trap 'stop_all' EXIT

# free_pair START: the first port >= START whose bus port (+10000) is free too.
free_pair() {
    local p=$1 i
    for ((i = 0; i < 200; i++, p++)); do
        port_is_free "$p" && port_is_free $((p + 10000)) && { echo "$p"; return 0; }
    done
    die "no free port pair from $1"
}

# cluster KIND: three primaries sharing the slots; sets PORTS and SERVER_PIDS.
cluster() {
    local kind=$1 bin p i dir
    if [ "$kind" = kvasir ]; then bin=$(kvasir_command); else bin=$VALKEY_SERVER; fi
    PORTS=(); SERVER_PIDS=()
    p=${BENCH_PORT:-7300}
    for i in 1 2 3; do
        p=$(free_pair "$p")
        dir="$BENCH_OUT/cluster-$kind-$$-$p"
        rm -rf "$dir"; mkdir -p "$dir"
        (cd "$dir" && exec "$bin" --port "$p" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "$dir/log" \
            --dir "$dir" --cluster-enabled yes --cluster-node-timeout 15000 >/dev/null 2>&1) &
        local root=$!
        BENCH_PIDS+=("$root")
        wait_ready "$p" "$root" 120 || die "$kind did not start on $p ($dir/log)"
        local pid
        pid=$(resolve_server_pid "$root")
        [ "$pid" = "$root" ] || BENCH_PIDS+=("$pid")
        SERVER_PIDS+=("$pid")
        PORTS+=("$p")
        p=$((p + 1))
    done
    redis-cli --cluster create "${PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null 2>&1 ||
        die "redis-cli --cluster create failed for $kind"
    for i in $(seq 1 600); do
        local ok=1
        for p in "${PORTS[@]}"; do
            [ "$(redis-cli -p "$p" cluster info | tr -d '\r' | awk -F: '/^cluster_state/ {print $2}')" = ok ] || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    die "$kind cluster never reached cluster_state:ok"
}

# servers_cpu: CPU clock ticks spent so far by the three servers together.
servers_cpu() {
    local pid sum=0
    for pid in "${SERVER_PIDS[@]}"; do sum=$((sum + $(cpu_ticks "$pid"))); done
    echo "$sum"
}

# throughput KIND: op/s of redis-benchmark --cluster for SET and GET, and the servers' CPU us per request.
throughput() {
    local kind=$1 t out c0 c1 ops cpu result=()
    cluster "$kind"
    redis-benchmark --cluster -p "${PORTS[0]}" -t set -n 200000 -c 50 -P 16 -r 100000 -q >/dev/null 2>&1 # warm-up
    for t in set get; do
        c0=$(servers_cpu)
        # 4M requests per test: in cluster mode redis-benchmark notices the end of a test only on its
        # 250 ms timer, so a 1.5 s run (1M requests) could only read as 570k, 665k or 800k op/s.
        out=$(redis-benchmark --cluster -p "${PORTS[0]}" -t $t -n $REQUESTS -c 50 -P 16 -r 100000 --csv 2>/dev/null)
        c1=$(servers_cpu)
        ops=$(echo "$out" | awk -F'","' '/^"(SET|GET)"/ {gsub(/"/, "", $2); print $2}')
        cpu=$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / $REQUESTS" | bc -l)
        result+=("$ops" "$cpu")
    done
    stop_all
    echo "${result[@]}"
}

# migration KIND: seconds to move one slot of KEYS keys.
migration() {
    local kind=$1 secs
    cluster "$kind"
    secs=$(/usr/bin/python3 "$BENCH_DIR/cluster_migrate.py" "$KEYS" "${PORTS[@]}")
    stop_all
    echo "$secs"
}


r_set=(); r_get=(); r_mig=(); r_cset=(); r_cget=(); rows=()
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS: redis-benchmark --cluster"
    read -r k_set k_cset k_get k_cget < <(throughput kvasir)
    read -r v_set v_cset v_get v_cget < <(throughput reference)
    log "round $round/$ROUNDS: migrating a slot of $KEYS keys"
    k_mig=$(migration kvasir)
    v_mig=$(migration reference)
    r_set+=("$(echo "$k_set / $v_set" | bc -l)")
    r_get+=("$(echo "$k_get / $v_get" | bc -l)")
    r_mig+=("$(echo "$k_mig / $v_mig" | bc -l)")
    r_cset+=("$(echo "$k_cset / $v_cset" | bc -l)")
    r_cget+=("$(echo "$k_cget / $v_cget" | bc -l)")
    rows+=("$(printf '| %d | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |' "$round" "$k_set" "$v_set" "$k_cset" "$v_cset" \
        "$k_get" "$v_get" "$k_cget" "$v_cget" "$k_mig" "$v_mig")")
done

table=$(
    echo "### Cluster: Kvasir vs $REF_NAME, 3 primaries each ($(date -u +%Y-%m-%d), $(git_describe))"
    echo
    echo "| round | SET op/s --cluster -P16: Kvasir | ref | SET server CPU us/req: Kvasir | ref | GET op/s: Kvasir | ref | GET CPU us/req: Kvasir | ref | move a slot of $KEYS keys (s): Kvasir | ref |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    printf 'target SET throughput >= 1.0: %.2f\n' "$(printf '%s\n' "${r_set[@]}" | median)"
    printf 'target GET throughput >= 1.0: %.2f\n' "$(printf '%s\n' "${r_get[@]}" | median)"
    printf 'target slot migration time <= 1.0: %.2f\n' "$(printf '%s\n' "${r_mig[@]}" | median)"
    printf 'servers CPU per request (SET, GET; Kvasir / ref, lower is better): %.2f, %.2f\n' \
        "$(printf '%s\n' "${r_cset[@]}" | median)" "$(printf '%s\n' "${r_cget[@]}" | median)"
)
echo "$table"
[ "$RECORD" = 1 ] && { echo; echo "$table"; } >>"$BENCH_DIR/RESULTS.md"
exit 0
