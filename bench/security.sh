#!/usr/bin/env bash
# The cost of security features, measured in the same run:
#  1. ACL: SET/GET as a user restricted by key patterns (~key:* ~counter:*) against the same test as
#     the unrestricted default user, on Kvasir (target: ratio >= 0.95) and on the reference server.
#  2. TLS: SET/GET over TLS (redis-benchmark --tls, certificates made here with openssl), Kvasir
#     against Valkey built with TLS (target: ratio >= 1.0); without such a Valkey, Kvasir TLS
#     against Kvasir plain.
#
# usage: bench/security.sh [-n N] [-c CLIENTS] [-r ROUNDS] [-P "1 16"] [--record]
#   -n N        requests per run (default 100000; 4*N at -P 16 and above)
#   -c C        parallel connections (default 50)
#   -r R        rounds; figures are medians of per-round ratios (default 3)
#   -P LIST     pipeline depths (default "1 16")
#   --record    append the output to bench/RESULTS.md
# environment: VALKEY_SERVER (a Valkey built with BUILD_TLS=yes; default /work/valkey or ~/valkey, src/valkey-server
#              when present), REDIS_SERVER (reference for the ACL part when there is no Valkey),
#              KVASIR_BIN, BENCH_PORT (first port tried, default 7200)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000; CLIENTS=50; ROUNDS=3; PIPES="1 16"; RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift ;;
    -c) CLIENTS=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    -P) PIPES=$2; shift ;;
    --record) RECORD=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
ensure_redis_tools
ensure_tool openssl openssl
find_valkey || true
trap 'stop_all' EXIT
OUT="$BENCH_OUT/security-$(date +%Y%m%d-%H%M%S).txt"

# bench PORT P TEST [redis-benchmark options...]: requests per second of one run
bench() {
    local port=$1 p=$2 t=$3 n=$N
    shift 3
    [ "$p" -gt 1 ] && n=$((N * 4))
    timeout 600 redis-benchmark -p "$port" -t "$t" -c "$CLIENTS" -n "$n" -P "$p" -r 100000 --csv "$@" 2>/dev/null |
        awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2; exit }'
}


# ratios NAME PORT_A ARGS_A PORT_B ARGS_B: per test and depth, the median over rounds of A/B, runs alternating
ratios() {
    local name=$1 pa=$2 aa=$3 pb=$4 ab=$5 p t r x y
    for p in $PIPES; do
        for t in set get; do
            local list=()
            for ((r = 1; r <= ROUNDS; r++)); do
                if ((r % 2)); then x=$(bench "$pa" "$p" "$t" $aa); y=$(bench "$pb" "$p" "$t" $ab)
                else y=$(bench "$pb" "$p" "$t" $ab); x=$(bench "$pa" "$p" "$t" $aa); fi
                [ -n "$x" ] && [ -n "$y" ] && list+=("$(awk -v a="$x" -v b="$y" 'BEGIN { printf "%.3f", a / b }')")
            done
            printf '%s\t-P %s\t%s\t%s\n' "$name" "$p" "${t^^}" "$(printf '%s\n' "${list[@]}" | median)"
        done
    done
}

{
echo "# bench/security.sh $(git_describe), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, -n $N -c $CLIENTS, $ROUNDS rounds"
echo "## ACL: restricted user (~key:* ~counter:* +@all) / default user, same server"
port=$(next_free_port "${BENCH_PORT:-7200}")
start_server kvasir "$port"
redis-cli -p "$port" ACL SETUSER bench on '>benchpw' '~key:*' '~counter:*' '+@all' >/dev/null
ratios "kvasir acl/default" "$port" "--user bench -a benchpw" "$port" ""
stop_all
ref=redis; [ -n "${VALKEY_SERVER:-}" ] && ref=valkey
port=$(next_free_port "$((port + 1))")
start_server "$ref" "$port"
redis-cli -p "$port" ACL SETUSER bench on '>benchpw' '~key:*' '~counter:*' '+@all' >/dev/null
ratios "$ref acl/default" "$port" "--user bench -a benchpw" "$port" ""
stop_all

echo "## TLS (TLS 1.3, client certificates required)"
certs="$BENCH_OUT/tls"
mkdir -p "$certs"
openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 2 -subj "/CN=bench CA" -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
for name in server client; do
    openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=bench $name" -keyout "$certs/$name.key" -out "$certs/$name.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 2 -in "$certs/$name.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -CAcreateserial -out "$certs/$name.crt" 2>/dev/null
done
tls_server=(--tls-cert-file "$certs/server.crt" --tls-key-file "$certs/server.key" --tls-ca-cert-file "$certs/ca.crt")
tls_client="--tls --cacert $certs/ca.crt --cert $certs/client.crt --key $certs/client.key"
kport=$(next_free_port "$((port + 11))"); ktls=$(next_free_port "$((kport + 7))")
KVASIR_ARGS="--tls-port $ktls ${tls_server[*]}" start_server kvasir "$kport"
kpids=("${BENCH_PIDS[@]}")
if [ -n "${VALKEY_SERVER:-}" ] && ldd "$VALKEY_SERVER" 2>/dev/null | grep -q libssl; then
    vport=$(next_free_port "$((ktls + 7))"); vtls=$(next_free_port "$((vport + 7))")
    "$VALKEY_SERVER" --port "$vport" --tls-port "$vtls" "${tls_server[@]}" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --logfile "" --dir "$BENCH_OUT" >"$BENCH_OUT/valkey-tls.log" 2>&1 &
    BENCH_PIDS+=($!)
    wait_ready "$vport" "$!" 60 || die "valkey with TLS did not start (log: $BENCH_OUT/valkey-tls.log)"
    ratios "kvasir/valkey over TLS" "$ktls" "$tls_client" "$vtls" "$tls_client"
else
    echo "(no Valkey with TLS: Kvasir over TLS against Kvasir plain)"
fi
ratios "kvasir TLS/plain" "$ktls" "$tls_client" "$kport" ""
stop_all
echo "target: kvasir acl/default SET and GET >= 0.95; kvasir/valkey over TLS >= 1.0"
} | tee "$OUT"

if [ "$RECORD" = 1 ]; then
    { echo; echo '```'; cat "$OUT"; echo '```'; } >>"$BENCH_DIR/RESULTS.md"
fi
