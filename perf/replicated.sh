#!/usr/bin/env bash
# Replicated produce beside unreplicated, on one 3-broker cluster, in one run (issue 16's
# figures, issue 19's "with replication" row): `acks=all` to an RF=3 topic
# (min.insync.replicas=2) and to an RF=1 topic, flat out and at a fixed rate, with the CPU
# of all three brokers counted per GB produced (so replication's cost is in the figure).
#
# Usage: bash perf/replicated.sh [repeats, default 3] [seconds per fixed-rate run, default 10]
#   RATE=records/s for the fixed-rate rows (default 20480 = 20 MiB/s of 1 KiB records)
#   RECORDS=records per flat-out run (default 500000)
#   BROKER_CPU / CLIENT_CPU (default 0 / 1): the cores for `taskset`. On this 2-core machine
#   the three brokers share one core and the load generator has the other.
# Output: a Markdown table on stdout; JSON reports and broker logs under target/perf-replicated/.
# The brokers use config/node-{1,2,3}.properties (ports 9092-9094, 9192-9194), with their
# data under target/perf-replicated/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
repeats="${1:-3}"
seconds="${2:-10}"
rate="${RATE:-20480}"
records="${RECORDS:-500000}"
broker_cpu="${BROKER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
out=target/perf-replicated
bootstrap=127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094

cargo build --release --quiet
weir=target/release/weir
rm -rf "$out"
mkdir -p "$out"
pids=()
for id in 1 2 3; do
    taskset -c "$broker_cpu" "$weir" serve --config "config/node-$id.properties" --smp 1 \
        --override "log.dirs=$out/data-$id" --override "admin.listener=" \
        >"$out/node-$id.log" 2>&1 &
    pids+=("$!")
done
# SIGTERM, then wait: the last broker's controlled shutdown waits for a controller that
# the others' exit took away (about 10 s), and a next run must find the ports free.
trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT
for port in 9092 9093 9094; do
    wait_for_port "$port" || echo "nothing accepts on port $port after 30 s; going on" >&2
done

"$weir" topic create rf1 --partitions 1 --replication-factor 1 -b "$bootstrap" >&2
"$weir" topic create rf3 --partitions 1 --replication-factor 3 \
    --config min.insync.replicas=2 -b "$bootstrap" >&2
# Every replica in the ISR before measuring (the new followers catch up on an empty log).
for _ in $(seq 1 100); do
    if [ -z "$("$weir" topic describe --under-replicated-partitions -b "$bootstrap")" ]; then
        break
    fi
    sleep 0.2
done
"$weir" topic describe rf1 -b "$bootstrap" >&2
"$weir" topic describe rf3 -b "$bootstrap" >&2

brokers=()
for pid in "${pids[@]}"; do brokers+=(--broker-pid "$pid"); done
pinned=(taskset -c "$client_cpu")
for run in $(seq 1 "$repeats"); do
    echo "== run $run of $repeats" >&2
    for topic in rf1 rf3; do
        "${pinned[@]}" "$weir" perf produce "$topic" --num-records "$records" --acks all \
            -b "$bootstrap" "${brokers[@]}" --quiet \
            --output json >"$out/$topic-acks-all-flat-out.$run.json"
        "${pinned[@]}" "$weir" perf produce "$topic" --rate "$rate" --duration-secs "$seconds" \
            --acks all --linger-ms 1 -b "$bootstrap" "${brokers[@]}" --quiet \
            --output json >"$out/$topic-acks-all-fixed-rate.$run.json"
    done
done
python3 perf/summarize.py "$out"
