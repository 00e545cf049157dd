#!/usr/bin/env bash
# Transactional produce beside idempotent produce on one broker, in one run (issue 18's
# figures): `weir perf produce` with librdkafka's idempotent producer (acks=all), then with its
# transactional producer committing every 100 ms and every 1000 ms
# (--transaction-duration-ms, as kafka-producer-perf-test), 1 KiB records, flat out and at a
# fixed rate; records/s, commits/s, produce latency and broker core-seconds per GB.
#
# Usage: bash perf/transactions.sh [repeats, default 3]
#   RECORDS=records per flat-out run (default 500000); RATE=records/s of the fixed-rate runs
#   (default 20480), SECONDS_PER_RUN=their length (default 10)
#   BROKER_CPU / CLIENT_CPU (default 0 / 1): the cores for `taskset`.
# Output: a Markdown table on stdout; JSON reports and the broker log under
# target/perf-transactions/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
repeats="${1:-3}"
records="${RECORDS:-500000}"
rate="${RATE:-20480}"
seconds="${SECONDS_PER_RUN:-10}"
broker_cpu="${BROKER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
out=target/perf-transactions
port=19092

cargo build --release --quiet
weir=target/release/weir
rm -rf "$out"
mkdir -p "$out"
taskset -c "$broker_cpu" "$weir" serve --smp 1 \
    --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$out/data" \
    --override "admin.listener=" >"$out/broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; wait' EXIT
wait_for_port "$port" || echo "nothing accepts on port $port after 30 s; going on" >&2
bootstrap="127.0.0.1:$port"
pinned=(taskset -c "$client_cpu")
common=(-b "$bootstrap" --broker-pid "$broker" --quiet --output json --acks all)
idempotent=(--client-property enable.idempotence=true)
for run in $(seq 1 "$repeats"); do
    echo "== run $run of $repeats" >&2
    "${pinned[@]}" "$weir" perf produce idempotent --num-records "$records" \
        "${common[@]}" "${idempotent[@]}" >"$out/idempotent-flat-out.$run.json"
    for every in 100 1000; do
        "${pinned[@]}" "$weir" perf produce "txn-$every" --num-records "$records" \
            "${common[@]}" --transaction-duration-ms "$every" \
            --transactional-id "perf-$every-$run" >"$out/transactional-${every}ms-flat-out.$run.json"
    done
    "${pinned[@]}" "$weir" perf produce idempotent --rate "$rate" --duration-secs "$seconds" \
        --linger-ms 1 "${common[@]}" "${idempotent[@]}" >"$out/idempotent-fixed-rate.$run.json"
    "${pinned[@]}" "$weir" perf produce txn-100 --rate "$rate" --duration-secs "$seconds" \
        --linger-ms 1 "${common[@]}" --transaction-duration-ms 100 \
        --transactional-id "perf-rate-$run" >"$out/transactional-100ms-fixed-rate.$run.json"
done
python3 perf/summarize.py "$out"
