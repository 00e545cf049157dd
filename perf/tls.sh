#!/usr/bin/env bash
# TLS cost (issue 21): produce and consume through an SSL listener beside a PLAINTEXT one of
# the same broker, alternated in one run. The broker is `--smp 1` on CPU 0; the client is
# Debian's kcat (librdkafka 2.0 with OpenSSL: the rdkafka crate's librdkafka has no TLS) on
# CPU 1, producing 1 KiB records from a file (`-l`, batch.size 1000000, linger.ms 5) and
# consuming them from the beginning. The certificates are made here with openssl.
#
# Usage: bash perf/tls.sh [repeats, default 3] [other weir binary]
#   RECORDS=records per run (default 300000). With a second binary, each repeat runs both
#   builds (a broker of each, in turn): a before/after in one run.
# Output: a Markdown table on stdout (medians: MiB/s and the broker's core-seconds per GB,
# from /proc/PID/stat); broker log and certificates under target/perf-tls/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
install_missing kcat openssl
records="${RECORDS:-300000}"
port=19393
ssl_port=19394
prepare_comparison target/perf-tls "${1:-3}" "${2:-}"

pki="$out/pki"
mkdir -p "$pki"
(
    cd "$pki"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=weir perf ca" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req "${ec[@]}" -subj /CN=localhost -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile broker.ext -out broker.pem 2>/dev/null
    cat broker.key broker.pem >broker-keystore.pem
)
python3 -c "
import sys
line = ('x' * 1023 + '\n').encode()
with open('$out/records.txt', 'wb') as f:
    for _ in range($records):
        f.write(line)
"
bytes=$(stat -c %s "$out/records.txt")

ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }
hz=$(getconf CLK_TCK)
results="$out/results.tsv"
: >"$results"
# One timed kcat run: appends "workload MiB/s core-s-per-GB" to the results.
measure() { # workload, kcat arguments...
    local workload="$1 ($build)"
    shift
    local t0 c0 t1 c1
    t0=$(date +%s.%N)
    c0=$(ticks)
    taskset -c "$client_cpu" kcat "$@"
    t1=$(date +%s.%N)
    c1=$(ticks)
    python3 -c "
seconds = $t1 - $t0
core_seconds = ($c1 - $c0) / $hz
print('$workload', round($bytes / seconds / 2**20, 1), round(core_seconds / ($bytes / 1e9), 2), sep='\t')
" >>"$results"
}

for i in $(seq 1 "$repeats"); do
  for build in "${builds[@]}"; do
    start_tls_weir
    for protocol in PLAINTEXT SSL; do
        case $protocol in
        PLAINTEXT) settings=(-b "127.0.0.1:$port") ;;
        SSL) settings=(-b "127.0.0.1:$ssl_port" -X security.protocol=SSL -X "ssl.ca.location=$pki/ca.pem") ;;
        esac
        topic="t-$protocol-$i"
        measure "produce $protocol" "${settings[@]}" -X linger.ms=5 -X batch.size=1000000 \
            -t "$topic" -P -l "$out/records.txt"
        measure "consume $protocol" "${settings[@]}" -t "$topic" -C -e -o beginning -q \
            -f '%s\n' >/dev/null
    done
    stop_weir
  done
done
python3 perf/tsv_medians.py "$results" workload "MiB/s:.1f" "broker core-s per GB:.2f"
