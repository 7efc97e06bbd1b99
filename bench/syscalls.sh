#!/usr/bin/env bash
# System calls a server makes per request under redis-benchmark, counted with perf's syscall
# tracepoints (perf stat -e syscalls:...), which do not stop the process: strace does, and that changes
# which calls happen (a slowed server finds the next request already there and skips waits).
# Deterministic enough to compare builds on a loaded machine; not a timing.
#
# usage: bench/syscalls.sh [-n N] [-c CLIENTS] [-P PIPELINE] [-t TESTS] [-k KEYSPACE] BIN...
#   BIN          server executables (kvasir-server builds, valkey-server, redis-server), each started
#                with --port --bind --save "" --appendonly no, one after the other
#   -n N         requests per test (default 20000), -c clients (default 50), -P pipeline (default 1),
#   -t TESTS     redis-benchmark tests (default set,get), -k random keys (default 100000)
# Prints, per server: reads (read + recvfrom), of which EAGAIN, writes (write + sendto + writev +
# sendmsg), epoll_wait/epoll_pwait, all per request. Needs perf (linux-perf) and tracepoint access.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=20000; CLIENTS=50; PIPE=1; TESTS="set,get"; KEYSPACE=100000
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift ;;
    -c) CLIENTS=$2; shift ;;
    -P) PIPE=$2; shift ;;
    -t) TESTS=$2; shift ;;
    -k) KEYSPACE=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) die "unknown argument $1 (see --help)" ;;
    *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || { sed -n '2,14p' "$0"; exit 1; }
command -v perf >/dev/null || die "perf is needed (apt-get install linux-perf)"
ensure_redis_tools
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

requests=$(( N * $(tr ',' '\n' <<<"$TESTS" | grep -c .) ))
events=(read recvfrom write sendto writev sendmsg epoll_wait epoll_pwait)
printf '%-50s %8s %8s %8s %8s  (per request, %d requests, -c %d -P %d)\n' server reads EAGAIN writes epoll "$requests" "$CLIENTS" "$PIPE"
port=$(next_free_port "${BENCH_PORT:-7200}")
for bin in "$@"; do
    "$bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$BENCH_OUT" >"$BENCH_OUT/syscalls-$port.log" 2>&1 &
    root=$!
    BENCH_PIDS+=("$root")
    wait_ready "$port" "$root" 120 || die "$bin did not start (log: $BENCH_OUT/syscalls-$port.log)"
    pid=$(resolve_server_pid "$root")
    [ "$pid" = "$root" ] || BENCH_PIDS+=("$pid")
    redis-benchmark -p "$port" -t "$TESTS" -n 5000 -c "$CLIENTS" -r "$KEYSPACE" -q >/dev/null 2>&1 # warm up
    args=()
    for e in "${events[@]}"; do args+=(-e "syscalls:sys_enter_$e"); done
    args+=(-e syscalls:sys_exit_read --filter 'ret == -11' -e syscalls:sys_exit_recvfrom --filter 'ret == -11')
    out="$BENCH_OUT/syscalls-$port.perf"
    perf stat -x, "${args[@]}" -p "$pid" -o "$out" &
    perf_pid=$!
    sleep 0.5
    redis-benchmark -p "$port" -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$PIPE" -r "$KEYSPACE" -q >/dev/null 2>&1
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    awk -F, -v n="$requests" -v name="$bin" '
        $3 ~ /sys_enter_(read|recvfrom)$/ { r += $1 }
        $3 ~ /sys_exit_(read|recvfrom)$/ { a += $1 }
        $3 ~ /sys_enter_(write|sendto|writev|sendmsg)$/ { w += $1 }
        $3 ~ /sys_enter_epoll/ { e += $1 }
        END { printf "%-50s %8.2f %8.2f %8.2f %8.2f\n", name, r / n, a / n, w / n, e / n }' "$out"
    stop_all
    port=$(next_free_port $((port + 1)))
done
