#!/usr/bin/env bash
# Do TLS handshakes stall a shard (issue 21)? One broker (`--smp 1`, CPU 0) with a PLAINTEXT
# and an SSL listener and an RSA 4096 certificate (the costliest common handshake); on CPU 1,
# a plaintext client sends ApiVersions requests one after another for 10 s while 8 threads
# open TLS connections and complete handshakes in a loop. Reported: the plaintext client's
# latency percentiles and maximum, and the handshakes completed.
#
# Usage: bash perf/tls-handshakes.sh [repeats, default 3] [other weir binary, optional]
#   With a second binary, each repeat runs both builds in turn: a before/after in one run.
# Output: a Markdown table on stdout; logs under target/perf-tls-handshakes/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
install_missing openssl
port=19395
ssl_port=19396
prepare_comparison target/perf-tls-handshakes "${1:-3}" "${2:-}"
pki="$out/pki"
mkdir -p "$pki"
(
    cd "$pki"
    openssl req -x509 -newkey rsa:4096 -nodes -days 2 -subj "/CN=weir perf ca" \
        -keyout broker.key -out broker.pem 2>/dev/null
    cat broker.key broker.pem >broker-keystore.pem
)
results="$out/results.txt"
: >"$results"
for i in $(seq 1 "$repeats"); do
    for build in "${builds[@]}"; do
        start_tls_weir
        taskset -c "$client_cpu" python3 - "$build" "$port" "$ssl_port" >>"$results" <<'PY'
import socket, ssl, struct, sys, threading, time
build, port, ssl_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stop = time.monotonic() + 10
handshakes = [0]
def handshaker():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    while time.monotonic() < stop:
        with socket.create_connection(("127.0.0.1", ssl_port)) as raw:
            with context.wrap_socket(raw) as tls:
                tls.do_handshake()
                handshakes[0] += 1
threads = [threading.Thread(target=handshaker) for _ in range(8)]
for t in threads:
    t.start()
# ApiVersions v0, client id "ping": a request the broker answers at once.
body = struct.pack(">hhih", 18, 0, 0, 4) + b"ping"
frame = struct.pack(">i", len(body)) + body
latencies = []
with socket.create_connection(("127.0.0.1", port)) as s:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        s.sendall(frame)
        size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
        s.recv(size, socket.MSG_WAITALL)
        latencies.append(time.perf_counter() - t0)
for t in threads:
    t.join()
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print(build, len(latencies), handshakes[0], pick(0.5), pick(0.99), pick(0.999), latencies[-1] * 1000, sep="\t")
PY
        stop_weir
    done
done
python3 perf/tsv_medians.py "$results" build "plaintext requests:.0f" "handshakes:.0f" \
    "p50 ms:.2f" "p99 ms:.2f" "p99.9 ms:.2f" "max ms:.2f"
