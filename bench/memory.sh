#!/usr/bin/env bash
# Memory per element: load N keys (or N elements of one key) into a fresh server and read RSS and
# INFO used_memory.
#
# usage: bench/memory.sh [-n KEYS] [-w "WORKLOAD..."] [-r ROUNDS] [-s "kvasir redis valkey"] [--record]
#   -n KEYS     keys / elements to load (default 1000000), sent with redis-cli --pipe
#   -w LIST     one or more workloads (quoted, space-separated; "all" = string set zset list hash):
#               string (default): SET key:%012d val:%d
#               hash: HSET user:%012d name .. email .. age .. city .. plan .. (5 short fields)
#               set: SADD set member:%d (KEYS members of one set: a hashtable set)
#               zset: ZADD zset %d member:%d (KEYS members of one sorted set: skiplist + dict)
#               list: RPUSH list val:%d (KEYS elements of one list: a quicklist)
#               stream: XADD s * f v, KEYS entries in one stream
#               set, zset, list and stream are per element: each server first adds and deletes 100000
#               elements of another key of that type, then MEMORY PURGE, so one-time costs (Kvasir's
#               JIT-compiled code, allocator arenas) are in RSS0 and no server starts with memory
#               freed but kept
#   -r R        fresh start + load R times per server, report medians (default 3: a managed heap's
#               RSS after a bulk load varies with when the GC last ran)
#   -s LIST     servers to measure (default: kvasir redis, and valkey when VALKEY_SERVER is set)
#   --record    append the table to bench/RESULTS.md
# environment:
#   VALKEY_SERVER=path   also measure this valkey-server
#   REDIS_SERVER=path    reference redis-server (default: Debian's)
#   KVASIR_ENV="A=1"     extra environment for the Kvasir process only
#   KVASIR_BIN=path      run this Kvasir binary instead of the repo's launcher/Release build
#   BENCH_PORT=7200      first port to try
#
# Servers are measured one after another, each freshly started with persistence off. With VALKEY_SERVER
# set, each table ends with the ratio Kvasir / Valkey of the RSS growth per element (issue 14: <= 1.0).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEYS=1000000; ROUNDS=3; RECORD=0; ONLY=""; WORKLOADS=string; WARMUP=100000
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -s) ONLY=$2; shift ;;
    -w) WORKLOADS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

ensure_redis_tools
[ -n "${REDIS_SERVER:-}" ] || ensure_tool redis-server redis-server
SERVERS="kvasir redis"
if [ -n "${VALKEY_SERVER:-}" ]; then
    [ -x "$VALKEY_SERVER" ] || die "VALKEY_SERVER=$VALKEY_SERVER is not executable"
    SERVERS+=" valkey"
fi
if [ -n "$ONLY" ]; then
    SERVERS=$ONLY
    case " $SERVERS " in *" valkey "*) [ -n "${VALKEY_SERVER:-}" ] || die "valkey needs VALKEY_SERVER=path" ;; esac
fi

trap 'exit 130' INT TERM

[ "$WORKLOADS" = all ] && WORKLOADS="string set zset list hash"
STREAM="$BENCH_OUT/memory-load.resp"
WARM="$BENCH_OUT/memory-warmup.resp"
trap 'stop_all; rm -f "$STREAM" "$WARM"' EXIT

# gen_stream WORKLOAD N KEY: the RESP commands of a workload (awk: ~1 s per million commands).
# KEY names the one key of the per-element workloads (the warm-up uses another).
gen_stream() {
    case $1 in
    string)
        awk -v n="$2" 'BEGIN {
            for (i = 1; i <= n; i++) {
                v = "val:" i
                printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, length(v), v
            }
        }' ;;
    hash)
        awk -v n="$2" 'function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
        BEGIN {
            for (i = 1; i <= n; i++) {
                printf "*12\r\n"; bulk("HSET"); bulk(sprintf("user:%012d", i))
                bulk("name"); bulk("user" i); bulk("email"); bulk("u" i "@example.com")
                bulk("age"); bulk(18 + i % 60); bulk("city"); bulk("city" i % 500); bulk("plan"); bulk(i % 3 ? "free" : "pro")
            }
        }' ;;
    set|zset|list)
        awk -v n="$2" -v w="$1" -v key="$3" 'function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
        BEGIN {
            for (i = 1; i <= n; i++) {
                if (w == "set") { printf "*3\r\n"; bulk("SADD"); bulk(key); bulk("member:" i) }
                else if (w == "zset") { printf "*4\r\n"; bulk("ZADD"); bulk(key); bulk(i); bulk("member:" i) }
                else { printf "*3\r\n"; bulk("RPUSH"); bulk(key); bulk("val:" i) }
            }
        }' ;;
    stream)
        awk -v n="$2" -v key="$3" 'BEGIN {
            for (i = 1; i <= n; i++) printf "*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n", length(key), key
        }' ;;
    *) die "unknown workload $1 (string, hash, set, zset, list, stream or all)" ;;
    esac
}

describe() {
    case $1 in
    string) echo 'SET key:%012d val:%d' ;;
    hash) echo 'HSET user:%012d name email age city plan' ;;
    set) echo 'SADD set member:%d (members of one set)' ;;
    zset) echo 'ZADD zset %d member:%d (members of one sorted set)' ;;
    list) echo 'RPUSH list val:%d (elements of one list)' ;;
    stream) echo 'XADD s * f v (entries of one stream)' ;;
    esac
}

# What the last element reads back, to check that everything arrived: "COMMAND... EXPECTED".
check_last() {
    case $1 in
    string) redis-cli -p "$2" get "$(printf 'key:%012d' "$KEYS")" 2>&1; echo "val:$KEYS" ;;
    hash) redis-cli -p "$2" hget "$(printf 'user:%012d' "$KEYS")" name 2>&1; echo "user$KEYS" ;;
    set) redis-cli -p "$2" scard set 2>&1; echo "$KEYS" ;;
    zset) redis-cli -p "$2" zscore zset "member:$KEYS" 2>&1; echo "$KEYS" ;;
    list) redis-cli -p "$2" lindex list -1 2>&1; echo "val:$KEYS" ;;
    stream) redis-cli -p "$2" xlen s 2>&1; echo "$KEYS" ;;
    esac
}

# RSS stops moving once the server has digested the load (and the GC has settled).
settled_rss() {
    local pid=$1 prev=0 cur stable=0 i
    for ((i = 0; i < 60; i++)); do
        sleep 0.5
        cur=$(rss_kb "$pid")
        if [ $((cur > prev ? cur - prev : prev - cur)) -le $((prev / 200)) ]; then
            stable=$((stable + 1)); [ $stable -ge 4 ] && break
        else
            stable=0
        fi
        prev=$cur
    done
    echo "$cur"
}

key_count() {  # DBSIZE when the server has it, otherwise n/a
    local out
    out=$(timeout 10 redis-cli -p "$1" dbsize 2>&1)
    case $out in *[!0-9]* | "") echo "n/a" ;; *) echo "$out" ;; esac
}

# run_workload WORKLOAD: measures every server ROUNDS times, prints the table (also kept in $OUTPUT).
OUTPUT=""
run_workload() {
    local workload=$1 round srv pid rss0 rss1 um0 um1 pipe_out dbsize got expect rows="" per_element=0
    case $workload in set|zset|list|stream) per_element=1 ;; esac
    local key=$workload; [ "$workload" = stream ] && key=s
    gen_stream "$workload" "$KEYS" "$key" >"$STREAM"
    # The warm-up: another key of the same type, deleted again (per-element workloads only).
    [ $per_element = 1 ] && gen_stream "$workload" "$WARMUP" "warmup" >"$WARM"
    local port
    port=$(next_free_port "${BENCH_PORT:-7200}")
    for ((round = 1; round <= ROUNDS; round++)); do
        for srv in $SERVERS; do
            start_server "$srv" "$port"
            pid=$SERVER_PID
            sleep 1
            if [ $per_element = 1 ]; then
                redis-cli -p "$port" --pipe <"$WARM" >/dev/null 2>&1
                redis-cli -p "$port" del warmup >/dev/null
                # What the warm-up freed is given back (jemalloc's purge; Kvasir's full collection), so no
                # server starts the measured load with free memory the others do not have.
                redis-cli -p "$port" memory purge >/dev/null
            fi
            rss0=$(settled_rss "$pid")
            um0=$(info_field "$port" memory used_memory)
            pipe_out=$(timeout 1200 redis-cli -p "$port" --pipe <"$STREAM" 2>&1 | tr -d '\r' | tail -1)
            rss1=$(settled_rss "$pid")
            um1=$(info_field "$port" memory used_memory)
            dbsize=$(key_count "$port")
            { read -r got; read -r expect; } < <(check_last "$workload" "$port")
            log "$workload round $round $srv: $pipe_out; RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB"
            [ "$got" = "$expect" ] || log "$srv: the last element reads back '$got', expected '$expect'"
            stop_server "${BENCH_PIDS[@]}"
            BENCH_PIDS=()
            rows+="$srv $KEYS $dbsize $rss0 $rss1 ${um0:-n/a} ${um1:-n/a}"$'\n'
        done
    done
    rm -f "$STREAM" "$WARM"

    # Medians over rounds per server; the spread of the RSS growth shows how much the GC moves it.
    local target=0 target_ref=0
    case $workload in
    string) target=110 ;;   # bytes of RSS growth per key (issues 2 and 3)
    hash) target=170 ;;
    stream) target_ref=1 ;;  # issue 12: at most what the reference servers take per entry
    esac
    local table
    table=$(printf '%s' "$rows" | awk -v servers="$SERVERS" -v target="$target" -v targetref="$target_ref" -v unit="$([ $per_element = 1 ] && echo elem || echo key)" '
function median(key,   n, i, j, v, tmp) {
    n = cnt[key]; if (n == 0) return "n/a"
    for (i = 1; i <= n; i++) tmp[i] = vals[key, i]
    for (i = 2; i <= n; i++) { v = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > v; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = v }
    lo[key] = tmp[1]; hi[key] = tmp[n]
    return (n % 2) ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2
}
function add(key, v) { if (v == "n/a") return; cnt[key]++; vals[key, cnt[key]] = v + 0 }
function f1(v) { return v == "n/a" ? "n/a" : sprintf("%.1f", v) }
{
    k = $2; keys[$1] = k; dbsize[$1] = $3
    add($1 SUBSEP "rss0", $4 / 1024); add($1 SUBSEP "rss1", $5 / 1024)
    add($1 SUBSEP "d", ($5 - $4) * 1024 / k); add($1 SUBSEP "t", $5 * 1024 / k)
    if ($6 != "n/a" && $7 != "n/a") { add($1 SUBSEP "ud", ($7 - $6) / k); add($1 SUBSEP "ut", $7 / k) }
}
END {
    printf "%-8s %9s %9s %9s %9s %10s %13s %9s %10s %9s\n", "server", "keys", "dbsize", "RSS0 MB", "RSS1 MB", "RSS d/" unit, "d/" unit " range", "RSS /" unit, "used d/" unit, "used /" unit
    ns = split(servers, S, " ")
    for (i = 1; i <= ns; i++) {
        s = S[i]; if (!(s in keys)) continue
        d = median(s SUBSEP "d")
        range = sprintf("%.0f-%.0f", lo[s SUBSEP "d"], hi[s SUBSEP "d"])
        printf "%-8s %9s %9s %9s %9s %10s %13s %9s %10s %9s\n", s, keys[s], dbsize[s], f1(median(s SUBSEP "rss0")),
            f1(median(s SUBSEP "rss1")), f1(d), range, f1(median(s SUBSEP "t")), f1(median(s SUBSEP "ud")), f1(median(s SUBSEP "ut"))
        if (s == "kvasir") kd = d
        else if (d != "n/a" && (best == "" || d + 0 < best + 0)) { best = d; bestname = s }
        if (s == "valkey") vd = d
    }
    if (kd == "") exit
    if (target > 0) printf "target kvasir RSS d/%s %.1f B %s %d B\n", unit, kd, (kd <= target) ? "<=" : "ABOVE", target
    if (targetref && best != "") printf "target kvasir RSS d/%s %.1f B %s %s %.1f B\n", unit, kd, (kd <= best) ? "<=" : "ABOVE", bestname, best
    if (vd != "" && vd + 0 > 0) printf "target kvasir/valkey RSS d/%s %.2f %s 1.00\n", unit, kd / vd, (kd / vd <= 1.0) ? "<=" : "ABOVE"
}')

    local header
    header="$(date -u '+%Y-%m-%d %H:%M UTC') | kvasir $(git_describe) | $KEYS x $(describe "$workload") | medians of $ROUNDS rounds | $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)${KVASIR_ENV:+ | KVASIR_ENV: $KVASIR_ENV}"
    echo "$header"
    echo "$table"
    OUTPUT+="$header"$'\n'"$table"$'\n'
}

for w in $WORKLOADS; do run_workload "$w"; echo; done
echo "RSS d/key (d/elem) = (RSS after load - RSS at start) / keys (elements) (range: min-max over rounds); RSS /key = RSS after load / keys; used = INFO used_memory (n/a: no INFO). Bytes."

if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "### $(date -u +%Y-%m-%d) memory ($WORKLOADS)${KVASIR_ENV:+ (KVASIR_ENV: $KVASIR_ENV)}"
        echo
        echo '```'
        printf '%s' "$OUTPUT"
        echo '```'
    } >>"$BENCH_DIR/RESULTS.md"
    log "recorded in bench/RESULTS.md"
fi
