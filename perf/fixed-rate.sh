#!/usr/bin/env bash
# The fixed-rate rows of perf/RESULTS.md (issue 22): `weir perf` at a fixed 50 MB/s with the
# broker and the load generator pinned to different cores, beside librdkafka's own
# rdkafka_performance at the same rate and settings, and the same weir perf run unpinned, all in
# one run against one fresh broker.
#
# Usage: bash perf/fixed-rate.sh [repeats, default 3] [seconds per run, default 10]
#   RATE=records/s (default 51200 = 50 MiB/s of 1 KiB records)
#   BROKER_CPU / CLIENT_CPU (default 0 / 1): the cores for `taskset`.
# Output: a Markdown table on stdout; JSON reports and latency files under target/perf-fixed/.
#
# rdkafka_performance is librdkafka's example program. It is built here from the librdkafka
# sources that the rdkafka-sys crate (a dependency of the tools) ships, linked against the
# static library cargo already built for this tree: no other download.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
repeats="${1:-3}"
seconds="${2:-10}"
rate="${RATE:-51200}"
broker_cpu="${BROKER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
out=target/perf-fixed
data="$out/data"
port=19292
admin=19298
bootstrap="127.0.0.1:$port"

cargo build --release --quiet
weir=target/release/weir

# rdkafka_performance from the crate's librdkafka, against the library of this build (built
# with OpenSSL since the tools speak TLS and SCRAM: hence -lssl -lcrypto).
rk_out=$(dirname "$(ls -t target/release/build/rdkafka-sys-*/out/src/librdkafka.a | head -1)")
rk_src=$(dirname "$rk_out")
zstd_lib=$(ls -t target/release/build/zstd-sys-*/out/libzstd.a | head -1)
example=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-*/librdkafka/examples/rdkafka_performance.c | tail -1)
rk_perf=target/perf-tools/rdkafka_performance
mkdir -p target/perf-tools
if [ ! -x "$rk_perf" ] || [ "$rk_out/librdkafka.a" -nt "$rk_perf" ]; then
    cc -O2 -o "$rk_perf" "$example" -I"$rk_src/src" "$rk_out/librdkafka.a" "$zstd_lib" \
        -lssl -lcrypto -lz -lpthread -lm -ldl
fi

rm -rf "$out"
mkdir -p "$out" "$data"
taskset -c "$broker_cpu" "$weir" serve --smp 1 --override "listeners=PLAINTEXT://$bootstrap" \
    --override "log.dirs=$data" --override "admin.listener=127.0.0.1:$admin" \
    >"$out/broker.log" 2>&1 &
broker_pid=$!
trap 'kill $broker_pid 2>/dev/null || true' EXIT
wait_for_port "$port" || echo "nothing accepts on port $port after 30 s; going on" >&2

count=$((rate * seconds))
pinned=(taskset -c "$client_cpu")
for run in $(seq 1 "$repeats"); do
    echo "== run $run of $repeats" >&2
    "${pinned[@]}" "$weir" perf produce fixed-weir --rate "$rate" --duration-secs "$seconds" \
        --acks all --linger-ms 1 -b "$bootstrap" --broker-pid "$broker_pid" --quiet \
        --output json >"$out/produce-pinned.$run.json"
    # The client's CPU (user + system seconds) from bash's `time`, for the table.
    TIMEFORMAT="%U %S"
    { time "${pinned[@]}" "$rk_perf" -P -t fixed-rk -b "$bootstrap" -s 1024 -r "$rate" \
        -c "$count" -a -1 -X linger.ms=1 -X batch.size=65536 -l \
        -A "$out/rdkafka-performance.$run.us" -q >"$out/rdkafka-performance.$run.log" 2>&1; } \
        2>"$out/rdkafka-performance.$run.cpu"
    # The same records flat out: the client's CPU per GB at a fixed rate should be no higher.
    "${pinned[@]}" "$weir" perf produce flat-out --num-records "$count" --acks all \
        --linger-ms 1 -b "$bootstrap" --broker-pid "$broker_pid" --quiet \
        --output json >"$out/produce-flat-out.$run.json"
    "$weir" perf produce fixed-unpinned --rate "$rate" --duration-secs "$seconds" --acks all \
        --linger-ms 1 -b "$bootstrap" --broker-pid "$broker_pid" --quiet \
        --output json >"$out/produce-unpinned.$run.json"
    for linger in 0 1; do
        "${pinned[@]}" "$weir" perf e2e "fixed-e2e-$linger" --rate "$rate" \
            --duration-secs "$seconds" --acks all --linger-ms "$linger" -b "$bootstrap" \
            --broker-pid "$broker_pid" --quiet --output json >"$out/e2e-linger-$linger.$run.json"
    done
done
python3 perf/fixed_rate_table.py "$out"
# The broker's own produce latency per topic over all repeats, without the client's linger and
# queueing: fixed-weir (pinned), fixed-unpinned, fixed-e2e-0 / -1, fixed-rk (rdkafka_performance).
save_produce_latency "$admin" "$out/broker-latency-all-runs.1.txt"
echo
echo "Broker-side produce latency (ms, all repeats together)"
python3 perf/broker_latency.py "$out"
