#!/usr/bin/env bash
# Start-up time and idle footprint: Kvasir against Valkey in the same run, starts alternating.
#
# usage: bench/startup.sh [-r RUNS] [-x LABEL=COMMAND]... [--record]
#   -r RUNS     starts per server (default 9); figures are medians, with min-max
#   -x L=CMD    also measure CMD under the name L (repeatable). CMD may begin with VAR=value
#               settings, e.g. -x "jit-nopgo=DOTNET_TieredPGO=0 src/Kvasir.Server/bin/Release/net10.0/kvasir-server"
#   --record    append the table to bench/RESULTS.md
# environment:
#   VALKEY_SERVER=path  the reference (default: /work/valkey/src/valkey-server, ~/valkey/src/valkey-server,
#                       else Debian's redis-server)
#   KVASIR_BIN=path     the Kvasir measured as "kvasir" (default: the repo's launcher, built first)
#   BENCH_PORT=7200     first port to try
#
# Per start: "first PING" is the wall time from exec to the first +PONG read by a client that
# retries connecting every millisecond; "cpu" is the CPU the server's threads used by then (from
# /proc/PID/task/*/schedstat: robust when other work shares the machine, which inflates wall times);
# "idle RSS" is VmRSS one second after that client left, split into anonymous memory (the server's
# own) and file-backed pages (code and mapped libraries, shared with other processes using them).
# Targets (issue 14): first PING within 100 ms, idle RSS <= 25 MB.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=9; RECORD=0; EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
    -r) RUNS=$2; shift ;;
    -x) EXTRA+=("$2"); shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

REF=${VALKEY_SERVER:-}
if [ -z "$REF" ]; then
    for c in /work/valkey/src/valkey-server "$HOME/valkey/src/valkey-server"; do
        [ -x "$c" ] && { REF=$c; break; }
    done
fi
if [ -z "$REF" ]; then ensure_tool redis-server redis-server; REF=$(command -v redis-server); fi
REF_NAME=$(basename "$REF")

# The launcher builds when sources changed: kvasir_command does that now, outside the measured starts.
KV=$(kvasir_command)

LABELS=("kvasir" "$REF_NAME"); CMDS=("$KV" "$REF")
for x in "${EXTRA[@]}"; do LABELS+=("${x%%=*}"); CMDS+=("${x#*=}"); done

PORT=$(next_free_port "${BENCH_PORT:-7200}")
RAW="$BENCH_OUT/startup-$(date -u +%Y%m%d-%H%M%S).tsv"
: >"$RAW"

# One start: prints "wall_ms cpu_ms rss_kb anon_kb file_kb". The server is killed afterwards.
measure_one() {  # measure_one PORT COMMAND
    python3 - "$1" "$2" "$BENCH_OUT" <<'EOF'
import os, shlex, signal, socket, subprocess, sys, time
port, command, outdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
words = shlex.split(command)
env = dict(os.environ)
while words and "=" in words[0] and not words[0].startswith("/") and not words[0].startswith("."):
    k, v = words.pop(0).split("=", 1); env[k] = v
args = words + ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", outdir]

def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try: total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except OSError: pass
    return total

def status(pid):
    d = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":"); d[k] = v.split()[0] if v.split() else ""
    return d

t0 = time.monotonic()
p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
deadline = t0 + 60
s = None
while True:
    if p.poll() is not None: sys.exit("server exited with %d" % p.returncode)
    if time.monotonic() > deadline: p.kill(); sys.exit("no PONG within 60 s")
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"PING\r\n")
        if s.recv(64).startswith(b"+PONG"): break
        s.close()
    except OSError:
        if s: s.close()
        time.sleep(0.001)
wall = (time.monotonic() - t0) * 1000
cpu = cpu_ns(p.pid) / 1e6
s.close()
time.sleep(1.0)
st = status(p.pid)
p.send_signal(signal.SIGKILL); p.wait()
print(f"{wall:.1f} {cpu:.1f} {st['VmRSS']} {st.get('RssAnon', 0)} {st.get('RssFile', 0)}")
EOF
}

trap 'exit 130' INT TERM
for ((run = 1; run <= RUNS; run++)); do
    log "run $run/$RUNS"
    n=${#LABELS[@]}
    for ((k = 0; k < n; k++)); do
        i=$(( (k + run) % n ))   # rotate the order so no server always goes first
        port=$(next_free_port "$PORT")
        if line=$(measure_one "$port" "${CMDS[$i]}"); then
            echo "${LABELS[$i]} $line" >>"$RAW"
        else
            log "${LABELS[$i]}: failed"
        fi
    done
done

TABLE=$(awk -v order="${LABELS[*]}" -v ref="$REF_NAME" '
function median(key,   n, i, j, v, tmp) {
    n = cnt[key]; if (n == 0) return 0
    for (i = 1; i <= n; i++) tmp[i] = vals[key, i]
    for (i = 2; i <= n; i++) { v = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > v; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = v }
    lo[key] = tmp[1]; hi[key] = tmp[n]
    return (n % 2) ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; vals[key, cnt[key]] = v + 0 }
{ add($1 SUBSEP "w", $2); add($1 SUBSEP "c", $3); add($1 SUBSEP "r", $4 / 1024); add($1 SUBSEP "a", $5 / 1024); add($1 SUBSEP "f", $6 / 1024) }
END {
    printf "%-14s %9s %13s %8s %9s %9s %9s %9s\n", "server", "PING ms", "(min-max)", "cpu ms", "RSS MB", "anon MB", "file MB", "RSS/ref"
    n = split(order, L, " ")
    rr = median(ref SUBSEP "r")
    for (i = 1; i <= n; i++) {
        s = L[i]; if (cnt[s SUBSEP "w"] == 0) continue
        w = median(s SUBSEP "w"); c = median(s SUBSEP "c"); r = median(s SUBSEP "r")
        range = sprintf("(%.0f-%.0f)", lo[s SUBSEP "w"], hi[s SUBSEP "w"]); ratio = (rr > 0) ? r / rr : 0
        printf "%-14s %9.1f %13s %8.1f %9.1f %9.1f %9.1f %9.2f\n", s, w, range, c, r, median(s SUBSEP "a"), median(s SUBSEP "f"), ratio
        if (s == "kvasir") { kw = w; kr = r }
    }
    if (kw != "") {
        printf "target kvasir first PING %.1f ms %s 100 ms\n", kw, kw <= 100 ? "<=" : "ABOVE"
        printf "target kvasir idle RSS %.1f MB %s 25 MB\n", kr, kr <= 25 ? "<=" : "ABOVE"
    }
}' "$RAW")

HEADER="$(date -u '+%Y-%m-%d %H:%M UTC') | kvasir $(git_describe) ($KV) | ref $REF | medians of $RUNS starts | $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$HEADER"
echo "$TABLE"
echo "PING ms = exec to first PONG (wall); cpu ms = server CPU by then; RSS = VmRSS 1 s after (anon + file-backed). raw: $RAW"
for ((i = 2; i < ${#LABELS[@]}; i++)); do echo "${LABELS[$i]} = ${CMDS[$i]}"; done

if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "### $(date -u +%Y-%m-%d) start-up and idle footprint (bench/startup.sh)"
        echo
        echo '```'
        echo "$HEADER"
        echo "$TABLE"
        for ((i = 2; i < ${#LABELS[@]}; i++)); do echo "${LABELS[$i]} = ${CMDS[$i]}"; done
        echo '```'
    } >>"$BENCH_DIR/RESULTS.md"
    log "recorded in bench/RESULTS.md"
fi
