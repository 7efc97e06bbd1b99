#!/usr/bin/env bash
# AOF write path: throughput with appendonly yes, Kvasir against the reference server in the same run.
#
# usage: bench/aof.sh [-f "everysec always"] [-n N] [-r ROUNDS] [-t set,incr] [-P "1 16"] [--record]
#   -f LIST    appendfsync policies to measure (default "everysec always"); each policy gets fresh
#              AOF directories for both servers
#   other options are throughput.sh's (defaults here: -t set,incr -r 3)
# environment: as throughput.sh (KVASIR_ENV, KVASIR_BIN, REDIS_SERVER, BENCH_PORT)
#
# Both servers run with appendonly yes, the same appendfsync, aof-use-rdb-preamble yes and their
# own empty directory; the table is throughput.sh's (ratios Kvasir / reference per round, medians).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

POLICIES="everysec always"; PASS=(); RECORD=0; TESTS=set,incr; ROUNDS=3
while [ $# -gt 0 ]; do
    case $1 in
    -f) POLICIES=$2; shift ;;
    -t) TESTS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) PASS+=("$1") ;;
    esac
    shift
done

OUTPUT=()
WORK="$BENCH_OUT/aof"
trap 'rm -rf "$WORK"' EXIT
OUTPUT+=("# aof bench $(date -u +%Y-%m-%dT%H:%MZ) $(git_describe), reference: ${REDIS_SERVER:-redis-server}")
for policy in $POLICIES; do
    rm -rf "$WORK"; mkdir -p "$WORK/kvasir" "$WORK/ref"
    log "appendfsync $policy"
    table=$(KVASIR_ARGS="--appendonly yes --appendfsync $policy --dir $WORK/kvasir" \
        REF_ARGS="--appendonly yes --appendfsync $policy --dir $WORK/ref" \
        "$BENCH_DIR/throughput.sh" -t "$TESTS" -r "$ROUNDS" "${PASS[@]}" | grep -v '^target')
    OUTPUT+=("" "## appendonly yes, appendfsync $policy" "$table")
done
printf '%s\n' "${OUTPUT[@]}"
if [ "$RECORD" = 1 ]; then
    { echo; printf '%s\n' "${OUTPUT[@]}"; } >>"$REPO_ROOT/bench/RESULTS.md"
fi
