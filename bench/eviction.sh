#!/usr/bin/env bash
# maxmemory eviction, Kvasir vs a reference server (Valkey when found, else Debian's redis-server),
# same settings, in one run:
#   1. for each of the eight policies, write MB megabytes (default 300) with maxmemory 64mb: half the
#      keys persistent (100-byte values), half with a TTL of 1-30 days (1900-byte values). Checks:
#      peak used_memory <= 64mb + 10%, volatile-* never evict a persistent key, volatile-ttl evicts
#      the soonest-expiring first (mean TTL rank of the surviving volatile keys among all written:
#      0.5 when eviction ignores TTLs, towards 1 when the soonest-expiring go first).
#   2. a cache-aside Zipf(1.0) workload (200k keys x 1000 bytes, ~3x maxmemory) under allkeys-lru and
#      allkeys-lfu: hit ratio of Kvasir / hit ratio of the reference (target >= 0.95).
#   3. accounting against reality: 1M small keys without maxmemory, after MEMORY PURGE:
#      used_memory vs GC heap size and RSS.
#
# usage: bench/eviction.sh [-m MB] [-p "policy ..."] [--record]
# environment: VALKEY_SERVER (default ~/valkey/src/valkey-server when present), BENCH_PORT (first port)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MB=300; RECORD=0
POLICIES="noeviction allkeys-lru allkeys-lfu allkeys-random volatile-lru volatile-lfu volatile-random volatile-ttl"
while [ $# -gt 0 ]; do
    case $1 in
    -m) MB=$2; shift ;;
    -p) POLICIES=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
command -v python3 >/dev/null || die "python3 is needed for the workload driver"
if [ -z "${VALKEY_SERVER:-}" ] && [ -x "$HOME/valkey/src/valkey-server" ]; then VALKEY_SERVER=$HOME/valkey/src/valkey-server; fi
REF=redis; [ -n "${VALKEY_SERVER:-}" ] && REF=valkey
trap stop_all EXIT

port=$(next_free_port "${BENCH_PORT:-7200}")
start_server kvasir "$port"; KPORT=$port; KPID=$SERVER_PID
port=$(next_free_port $((port + 1)))
start_server "$REF" "$port"; RPORT=$port
for p in $KPORT $RPORT; do redis-cli -p "$p" config set maxmemory 64mb >/dev/null; done
LIMIT=$((64 * 1024 * 1024))
WL="python3 $BENCH_DIR/eviction_workload.py"
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d.get(sys.argv[2], ''))" "$1" "$2"; }

table=$(mktemp)
{
echo "### eviction.sh $(date -u +%Y-%m-%d) ($(git_describe)), reference: $REF, maxmemory 64mb, ${MB} MB written per policy"
echo
echo "| policy | peak used k / r (MB) | within limit+10% k / r | persistent evicted k / r | OOM replies k / r | evicted keys k / r | TTL rank of survivors k / r |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
} >"$table"
for policy in $POLICIES; do
    log "fill $policy"
    k=$($WL fill "$KPORT" "$policy" "$MB"); r=$($WL fill "$RPORT" "$policy" "$MB")
    echo "$k" >>"$BENCH_OUT/eviction-kvasir.jsonl"; echo "$r" >>"$BENCH_OUT/eviction-$REF.jsonl"
    row="| $policy"
    peaks=""; oks=""; lost=""; ooms=""; ev=""; rank=""
    for j in "$k" "$r"; do
        peak=$(field "$j" peak_used)
        ok=no; [ "$peak" -le $((LIMIT + LIMIT / 10)) ] && ok=yes
        peaks+="$(awk -v p="$peak" 'BEGIN {printf "%.1f", p / 1048576}') / "
        oks+="$ok / "
        lost+="$(( $(field "$j" persistent_written) - $(field "$j" persistent_alive) )) / "
        ooms+="$(field "$j" oom_replies) / "
        ev+="$(field "$j" evicted_keys) / "
        rank+="$(field "$j" survivor_ttl_rank) / "
    done
    echo "$row | ${peaks% / } | ${oks% / } | ${lost% / } | ${ooms% / } | ${ev% / } | ${rank% / } |" >>"$table"
done
{
echo
echo "| Zipf cache-aside | hit ratio kvasir | hit ratio $REF | ratio k/r (target >= 0.95) |"
echo "| --- | --- | --- | --- |"
} >>"$table"
for policy in allkeys-lru allkeys-lfu; do
    log "zipf $policy"
    k=$($WL zipf "$KPORT" "$policy"); r=$($WL zipf "$RPORT" "$policy")
    hk=$(field "$k" hit_ratio); hr=$(field "$r" hit_ratio)
    echo "| $policy | $hk | $hr | $(awk -v a="$hk" -v b="$hr" 'BEGIN {printf "%.3f", a / b}') |" >>"$table"
done
log "accounting vs heap"
for p in $KPORT $RPORT; do redis-cli -p "$p" config set maxmemory 0 >/dev/null; done
k=$($WL heap "$KPORT" 1000000)
r=$($WL heap "$RPORT" 1000000)
{
echo
echo "| 1M keys, after MEMORY PURGE | used_memory | RSS | GC heap | used/RSS | used/GC heap |"
echo "| --- | --- | --- | --- | --- | --- |"
for pair in "kvasir:$k" "$REF:$r"; do
    name=${pair%%:*}; j=${pair#*:}
    u=$(field "$j" used_memory); rs=$(field "$j" used_memory_rss); h=$(field "$j" gc_heap_size)
    echo "| $name | $u | $rs | ${h:--} | $(awk -v a="$u" -v b="$rs" 'BEGIN {printf "%.2f", a / b}') | $( [ -n "$h" ] && awk -v a="$u" -v b="$h" 'BEGIN {printf "%.2f", a / b}' || echo -) |"
done
} >>"$table"
cat "$table"
if [ "$RECORD" = 1 ]; then { echo; cat "$table"; } >>"$BENCH_DIR/RESULTS.md"; fi
rm -f "$table"
