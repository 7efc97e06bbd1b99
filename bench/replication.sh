#!/usr/bin/env bash
# Replication: Kvasir against a reference server (Valkey built from source, else redis-server) in the
# same run, each with replicas of its own kind.
#
#   1. SET throughput at -P 16 (50 clients, keys over -r 100000) on a primary with 2 attached replicas.
#   2. Full sync of a 1,000,000-key primary (DEBUG POPULATE) to a fresh replica: seconds from
#      REPLICAOF to the replica's link up with equal offsets, and the primary's peak RSS growth during
#      it (fork-less snapshots must not double the memory).
#
# usage: bench/replication.sh [-n KEYS] [-r ROUNDS] [--record]
#   -n KEYS     keys for the full-sync part (default 1000000)
#   -r ROUNDS   rounds, servers alternating; ratios are medians of same-round pairs (default 3)
#   --record    append the table to bench/RESULTS.md
# environment: VALKEY_SERVER=path (default /work/valkey/src/valkey-server, ~/valkey/src/valkey-server,
#              else Debian's redis-server), KVASIR_BIN, BENCH_PORT as in throughput.sh
#
# Targets (issue 9): SET throughput ratio >= 1.0; full-sync time ratio <= 1.0; peak RSS growth of the
# primary during the sync well under its resident data (no doubling).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEYS=1000000; ROUNDS=3; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
if ! find_valkey; then
    ensure_tool redis-server redis-server
    VALKEY_SERVER=$(command -v redis-server)
fi
REF_NAME=$(basename "$VALKEY_SERVER")
trap 'stop_all' EXIT

# launch KIND PORT DIR: a server with its own directory (replicas write their received image there).
launch() {
    local kind=$1 port=$2 dir=$3 bin
    mkdir -p "$dir"
    if [ "$kind" = kvasir ]; then bin=$(kvasir_command); else bin=$VALKEY_SERVER; fi
    "$bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "$dir/log" \
        --dir "$dir" --repl-diskless-sync-delay 0 --enable-debug-command yes >/dev/null 2>&1 &
    local root=$!
    BENCH_PIDS+=("$root")
    wait_ready "$port" "$root" 120 || die "$kind did not start on $port ($dir/log)"
    LAUNCHED_PID=$(resolve_server_pid "$root")
    [ "$LAUNCHED_PID" = "$root" ] || BENCH_PIDS+=("$LAUNCHED_PID")
}

linked() {  # linked REPLICA_PORT PRIMARY_PORT: link up and offsets equal
    [ "$(info_field "$1" replication master_link_status)" = up ] &&
        [ "$(info_field "$1" replication master_repl_offset)" = "$(info_field "$2" replication master_repl_offset)" ]
}

wait_linked() {
    local i
    for ((i = 0; i < 6000; i++)); do linked "$1" "$2" && return 0; sleep 0.05; done
    die "replica $1 did not sync with $2"
}

# throughput KIND: SET -P 16 op/s on a primary with two replicas.
throughput() {
    local kind=$1 base p r1 r2
    base=$(next_free_port "${BENCH_PORT:-7200}")
    p=$base; r1=$(next_free_port $((base + 1))); r2=$(next_free_port $((r1 + 1)))
    local dir="$BENCH_OUT/repl-$kind-$$"
    rm -rf "$dir"
    launch "$kind" "$p" "$dir/p"
    launch "$kind" "$r1" "$dir/r1"
    launch "$kind" "$r2" "$dir/r2"
    redis-cli -p "$r1" replicaof 127.0.0.1 "$p" >/dev/null
    redis-cli -p "$r2" replicaof 127.0.0.1 "$p" >/dev/null
    wait_linked "$r1" "$p"; wait_linked "$r2" "$p"
    redis-benchmark -p "$p" -t set -n 100000 -c 50 -P 16 -r 100000 -q >/dev/null 2>&1 # warm-up
    local out
    out=$(redis-benchmark -p "$p" -t set -n 1000000 -c 50 -P 16 -r 100000 --csv 2>/dev/null | tail -1)
    wait_linked "$r1" "$p"; wait_linked "$r2" "$p"
    stop_all
    rm -rf "$dir"
    echo "$out" | awk -F'","' '{gsub(/"/, "", $2); print $2}'
}

# fullsync KIND: seconds to sync KEYS keys, and the primary's peak RSS growth (KB) meanwhile.
fullsync() {
    local kind=$1 base p r
    base=$(next_free_port "${BENCH_PORT:-7200}")
    p=$base; r=$(next_free_port $((base + 1)))
    local dir="$BENCH_OUT/sync-$kind-$$"
    rm -rf "$dir"
    launch "$kind" "$p" "$dir/p"
    local ppid=$LAUNCHED_PID
    launch "$kind" "$r" "$dir/r"
    redis-cli -p "$p" debug populate "$KEYS" key 32 >/dev/null
    sleep 1
    local base_rss peak start end
    base_rss=$(rss_kb "$ppid"); peak=$base_rss
    start=$(date +%s.%N)
    redis-cli -p "$r" replicaof 127.0.0.1 "$p" >/dev/null
    while ! linked "$r" "$p"; do
        local now_rss
        now_rss=$(rss_kb "$ppid")
        [ -n "$now_rss" ] && [ "$now_rss" -gt "$peak" ] && peak=$now_rss
        sleep 0.02
    done
    end=$(date +%s.%N)
    [ "$(redis-cli -p "$r" dbsize)" = "$KEYS" ] || die "$kind replica has $(redis-cli -p "$r" dbsize) keys, expected $KEYS"
    stop_all
    rm -rf "$dir"
    echo "$(echo "$end - $start" | bc -l) $((peak - base_rss)) $base_rss"
}


ratios_tp=(); ratios_sync=(); rows=()
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS: throughput"
    k_tp=$(throughput kvasir); r_tp=$(throughput reference)
    log "round $round/$ROUNDS: full sync of $KEYS keys"
    read -r k_s k_peak k_base < <(fullsync kvasir)
    read -r r_s r_peak r_base < <(fullsync reference)
    ratios_tp+=("$(echo "$k_tp / $r_tp" | bc -l)")
    ratios_sync+=("$(echo "$k_s / $r_s" | bc -l)")
    rows+=("$(printf '| %d | %.0f | %.0f | %.2f | %.2f | %d / %d | %d / %d |' "$round" "$k_tp" "$r_tp" "$k_s" "$r_s" \
        $((k_peak / 1024)) $((k_base / 1024)) $((r_peak / 1024)) $((r_base / 1024)))")
done
tp=$(printf '%s\n' "${ratios_tp[@]}" | median)
sy=$(printf '%s\n' "${ratios_sync[@]}" | median)

table=$(
    echo "### Replication: Kvasir vs $REF_NAME ($(date -u +%Y-%m-%d), $(git_describe))"
    echo
    echo "| round | SET -P16 op/s, 2 replicas: Kvasir | ref | full sync of $KEYS keys (s): Kvasir | ref | primary RSS growth during sync / before (MB): Kvasir | ref |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    printf 'target SET throughput with 2 replicas >= 1.0: %.2f\n' "$tp"
    printf 'target full-sync time <= 1.0: %.2f\n' "$sy"
)
echo "$table"
[ "$RECORD" = 1 ] && { echo; echo "$table"; } >>"$BENCH_DIR/RESULTS.md"
exit 0
