#!/usr/bin/env bash
# Catch-up isolation (issue 19, KAFKA-7504): a consumer reading old data from the start of a
# partition (4 GiB of 1 KiB records, cold: the page cache dropped, read with O_DIRECT) while a
# producer writes to another partition at a fixed 20 MiB/s with acks=all and linger.ms 1.
# The goal: the producer's p99 with the reader at most 1.5x its p99 alone, and the reader at
# least half its speed alone. Broker `--smp 1` on CPU 0; both clients on CPU 1, the reader at
# nice 10 so that the producer's client gets its core when it needs it. The client's latency
# includes its own scheduling on that shared core, so the broker's own produce latency (request
# at the partition's owner to acks met, `weir_partition_produce_latency_seconds` from
# /metrics) is reported beside it: alone to topic `live`, beside the reader to `live-beside`.
#
# Usage: bash perf/catch-up.sh [repeats, default 3] [other weir binary to compare, optional]
#   RECORDS=records of old data (default 4194304 = 4 GiB); SECONDS_PER_RUN=producer run
#   (default 5); ACKS=the producer's acks (default all); BROKER_CPU / CLIENT_CPU (0 / 1);
#   SERVE="--override key=value ..." for the brokers of the runs (say
#   `--override log.read.ahead.bytes=1048576`).
# Output: a Markdown table on stdout; JSON reports under target/perf-catch-up/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
records="${RECORDS:-4194304}"
seconds="${SECONDS_PER_RUN:-5}"
port=19294
admin=19295
bootstrap="127.0.0.1:$port"

prepare_comparison target/perf-catch-up "$@"

start_weir "$current" current
taskset -c "$client_cpu" "$current" perf produce old -b "$bootstrap" --num-records "$records" \
    --acks 1 --batch-size 1000000 --quiet >"$out/fill.txt"
stop_weir

producer() { # topic, report name
    taskset -c "$client_cpu" "$current" perf produce "$1" -b "$bootstrap" --rate 20480 \
        --duration-secs "$seconds" --acks "${ACKS:-all}" --linger-ms 1 --broker-pid "$broker" \
        --output json --quiet >"$out/$2.json"
}
reader() { # report name
    taskset -c "$client_cpu" nice -n 10 "$current" perf consume old -b "$bootstrap" \
        --num-records "$records" $librdkafka_fetch_defaults --output json --quiet >"$out/$1.json"
}

for i in $(seq 1 "$repeats"); do
    for build in "${builds[@]}"; do
        binary=$(binary_of "$build")
        drop_page_cache
        start_weir "$binary" "$build" --override "admin.listener=127.0.0.1:$admin" ${SERVE:-}
        producer live "producer-alone-$build.$i"
        reader "reader-alone-$build.$i"
        drop_page_cache
        reader "reader-with-producer-$build.$i" &
        reading=$!
        sleep 0.5
        producer live-beside "producer-with-reader-$build.$i"
        wait "$reading"
        save_produce_latency "$admin" "$out/broker-latency-$build.$i.txt"
        stop_weir
    done
done
python3 perf/summarize.py "$out"
echo
echo "Broker-side produce latency (ms, median over repeats): topic live alone, live-beside beside the reader"
python3 perf/broker_latency.py "$out"
