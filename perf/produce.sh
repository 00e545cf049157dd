#!/usr/bin/env bash
# Produce cost (issue 19's second goal: the broker at no more than 0.4 core-seconds per GB):
# 1 KiB records to one partition with `acks=1` and `acks=all`, `weir perf produce` on CPU 1
# with librdkafka's default producer settings (`batch.size` 1000000 and `linger.ms` 5: the
# tool's own defaults are 64 KiB and 5 ms, so the script passes them) and the broker
# `--smp 1` on CPU 0, a fresh data directory per run. The
# client's own CPU per GB and busy share are in the JSON reports: when its core is saturated,
# the client bounds the throughput and the broker's core-s per GB is the figure that matters.
#
# Usage: bash perf/produce.sh [repeats, default 3] [other weir binary to compare, optional]
#   With a second binary, each repeat runs both builds, alternated: a before/after in one run.
#   RECORDS=records per run (default 1000000); BROKER_CPU / CLIENT_CPU (0 / 1);
#   BATCH="--batch-size N --linger-ms MS" replaces the producer settings.
# Output: a Markdown table on stdout; JSON reports and broker logs under target/perf-produce/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
records="${RECORDS:-1000000}"
port=19293
bootstrap="127.0.0.1:$port"
batch="${BATCH:---batch-size 1000000 --linger-ms 5}"

prepare_comparison target/perf-produce "$@"

for i in $(seq 1 "$repeats"); do
    for acks in 1 all; do
        for build in "${builds[@]}"; do
            binary=$(binary_of "$build")
            rm -rf "$out/data"
            start_weir "$binary" "$build"
            taskset -c "$client_cpu" "$current" perf produce t1 -b "$bootstrap" \
                --num-records "$records" --acks "$acks" $batch --broker-pid "$broker" --output json \
                --quiet >"$out/produce-acks-$acks-$build.$i.json"
            stop_weir
        done
    done
done
python3 perf/summarize.py "$out"
