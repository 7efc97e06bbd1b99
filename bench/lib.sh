# Shared helpers for the bench scripts (sourced, not run).
# Starting servers, finding free ports, reading /proc counters, stopping what we started.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BENCH_OUT=${BENCH_OUT:-$REPO_ROOT/bench/out}
mkdir -p "$BENCH_OUT"

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
BENCH_PIDS=()

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A port counts as free when nothing accepts a connection on it and a listener can bind it (a port
# of the ephemeral range may be the local end of someone's outgoing connection).
port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
    command -v python3 >/dev/null 2>&1 || return 0
    python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

# next_free_port START: prints the first free port >= START (within 50 tries).
next_free_port() {
    local p=$1 i
    for ((i = 0; i < 50; i++, p++)); do
        if port_is_free "$p"; then echo "$p"; return 0; fi
    done
    die "no free port from $1"
}

ensure_tool() {  # ensure_tool BINARY DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    log "$1 not found: installing $2"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
        die "could not install $2"
    command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

# The redis-server package starts a system-wide instance on 6379; we never use it,
# we start our own instances on our own ports.
# find_valkey: keeps VALKEY_SERVER when set, else takes a Valkey built from source in /work/valkey or
# ~/valkey; false when there is none (the caller picks Debian's redis-server instead).
find_valkey() {
    local candidate
    if [ -z "${VALKEY_SERVER:-}" ]; then
        for candidate in /work/valkey/src/valkey-server "$HOME/valkey/src/valkey-server"; do
            [ -x "$candidate" ] && VALKEY_SERVER=$candidate && break
        done
    fi
    [ -n "${VALKEY_SERVER:-}" ]
}

ensure_redis_tools() {
    ensure_tool redis-cli redis-tools
    ensure_tool redis-benchmark redis-tools
}

# Prints the path of a runnable Kvasir: the repo's launcher when present (its build, a native one
# taking a minute or two, is made here, before any server start is timed), otherwise the Release
# binary (built here when missing or older than the sources).
kvasir_command() {
    if [ -n "${KVASIR_BIN:-}" ]; then echo "$KVASIR_BIN"; return; fi
    if [ -x "$REPO_ROOT/kvasir-server" ]; then
        "$REPO_ROOT/kvasir-server" --version >/dev/null || die "kvasir-server does not run"
        echo "$REPO_ROOT/kvasir-server"; return
    fi
    local bin="$REPO_ROOT/src/Kvasir.Server/bin/Release/net10.0/kvasir-server"
    if [ ! -x "$bin" ] || [ -n "$(find "$REPO_ROOT/src" -name '*.cs' -newer "$bin" -print -quit)" ]; then
        log "building Kvasir (Release)"
        (cd "$REPO_ROOT" && dotnet build src/Kvasir.Server -c Release -nologo -v q >"$BENCH_OUT/build.log" 2>&1) ||
            { tail -20 "$BENCH_OUT/build.log" >&2; die "build failed (see $BENCH_OUT/build.log)"; }
    fi
    echo "$bin"
}

# A launcher may run the server as a child: the server is the descendant with the largest RSS.
resolve_server_pid() {
    local root=$1 best=$1 best_rss=-1 pid rss queue=("$1") kids
    while [ ${#queue[@]} -gt 0 ]; do
        pid=${queue[0]}; queue=("${queue[@]:1}")
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        if [ -n "$rss" ] && [ "$rss" -gt "$best_rss" ]; then best=$pid; best_rss=$rss; fi
        kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null)
        for k in $kids; do queue+=("$k"); done
    done
    echo "$best"
}

wait_ready() {  # wait_ready PORT PID [SECONDS]: PING answers PONG, or fail when PID died
    local port=$1 pid=$2 tries=$(( ${3:-60} * 10 )) i
    for ((i = 0; i < tries; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(timeout 2 redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    return 1
}

# start_server NAME PORT -> sets SERVER_PID (the process doing the work) and SERVER_ROOT_PID.
# NAME is kvasir, redis or valkey. Persistence is switched off where the server knows the settings.
start_server() {
    local name=$1 port=$2 logf="$BENCH_OUT/$1-$2.log" cmd
    case $name in
    kvasir)
        cmd=$(kvasir_command) || exit 1
        local envs=()
        [ -n "${KVASIR_ENV:-}" ] && read -r -a envs <<<"$KVASIR_ENV"
        local kargs=()
        [ -n "${KVASIR_ARGS:-}" ] && read -r -a kargs <<<"$KVASIR_ARGS"
        env "${envs[@]}" "$cmd" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$BENCH_OUT" "${kargs[@]}" >"$logf" 2>&1 &
        SERVER_ROOT_PID=$!
        # Early builds reject the persistence settings (they have no persistence): start without.
        if ! wait_ready "$port" "$SERVER_ROOT_PID" 120 && grep -qi "save\|appendonly" "$logf"; then
            wait "$SERVER_ROOT_PID" 2>/dev/null || true
            env "${envs[@]}" "$cmd" --port "$port" --bind 127.0.0.1 >"$logf" 2>&1 &
            SERVER_ROOT_PID=$!
        fi
        ;;
    redis)
        local rargs=()
        [ -n "${REF_ARGS:-}" ] && read -r -a rargs <<<"$REF_ARGS"
        "${REDIS_SERVER:-redis-server}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --logfile "" --dir "$BENCH_OUT" "${rargs[@]}" >"$logf" 2>&1 &
        SERVER_ROOT_PID=$!
        ;;
    valkey)
        "$VALKEY_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --logfile "" --dir "$BENCH_OUT" >"$logf" 2>&1 &
        SERVER_ROOT_PID=$!
        ;;
    *) die "unknown server $name" ;;
    esac
    BENCH_PIDS+=("$SERVER_ROOT_PID")
    if ! wait_ready "$port" "$SERVER_ROOT_PID" 120; then
        tail -20 "$logf" >&2
        die "$name did not start on port $port (log: $logf)"
    fi
    SERVER_PID=$(resolve_server_pid "$SERVER_ROOT_PID")
    [ "$SERVER_PID" = "$SERVER_ROOT_PID" ] || BENCH_PIDS+=("$SERVER_PID")
}

stop_server() {  # stop_server PID...: the launcher and the server it runs
    local pid i
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    return 0
}

stop_all() {
    [ ${#BENCH_PIDS[@]} -gt 0 ] && stop_server "${BENCH_PIDS[@]}"
    BENCH_PIDS=()
}

cpu_ticks() {  # utime + stime of the whole process (all threads), in clock ticks
    # Field 2 (comm) may hold spaces: cut everything up to the last ')'.
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    set -- $s
    echo $(( ${12} + ${13} ))
}

# median: the median of the numbers on stdin, one per line (empty when there are none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# INFO field from the server, or empty when INFO (or the field) is not there yet.
info_field() {  # info_field PORT SECTION FIELD
    timeout 10 redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'
}

# True when the server answers COMMAND with something other than an unknown-command error.
command_supported() {  # command_supported PORT ARGS...
    local out
    out=$(timeout 5 redis-cli -p "$1" "${@:2}" 2>&1)
    case $out in
    *"unknown command"*) return 1 ;;
    *) return 0 ;;
    esac
}

git_describe() {
    (cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null && git rev-parse --abbrev-ref HEAD 2>/dev/null) | paste -sd' '
}
