#!/usr/bin/env bash
# Consume throughput from disk (issue 19's first goal): 2 GiB of 1 KiB records in one
# partition, read from the beginning by `weir perf consume` with librdkafka's default fetch
# settings (1 MiB per partition per fetch: `weir perf consume` itself asks for 8 MiB unless
# told otherwise, so they are passed here), the broker `--smp 1` on CPU 0 and the client on
# CPU 1. The tail cache holds only the newest 4 MiB, so nearly every byte is a direct read
# from the segment files: with O_DIRECT the page cache plays no part, cold and warm alike; the
# page cache is dropped before each consume all the same (when run as root).
# Before the runs, iperf3 measures one loopback TCP stream (the goal is half of it).
#
# Usage: bash perf/consume.sh [repeats, default 3] [other weir binary to compare, optional]
#   With a second binary, each repeat consumes once with each build, alternated, against
#   the same data (the broker restarted between them): a before/after in one run.
#   RECORDS=records produced (default 2097152 = 2 GiB); BROKER_CPU / CLIENT_CPU (0 / 1);
#   FETCH="--client-property key=value ..." replaces the fetch settings (librdkafka's defaults).
# Output: a Markdown table on stdout; JSON reports and broker logs under target/perf-consume/.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
records="${RECORDS:-2097152}"
port=19292
bootstrap="127.0.0.1:$port"
fetch="${FETCH:-$librdkafka_fetch_defaults}"

install_missing iperf3 || echo "going on without the loopback limit" >&2
prepare_comparison target/perf-consume "$@"

if command -v iperf3 >/dev/null; then
    # The kernel's own cost of sending over loopback, for the broker's core-s per GB to be read
    # against: the sender's CPU per GB with iperf3's default 128 KiB writes and with 1 MiB
    # writes (a 1 MiB fetch response is sent in about that size).
    for length in 128K 1M; do
        echo "== iperf3: one TCP stream over loopback, 10 s, ${length} writes (server CPU $broker_cpu, client CPU $client_cpu)"
        taskset -c "$broker_cpu" iperf3 -s -1 -p 15202 >/dev/null 2>&1 &
        sleep 0.5
        taskset -c "$client_cpu" iperf3 -c 127.0.0.1 -p 15202 -t 10 -l "$length" -J >"$out/iperf3-$length.out"
        python3 - "$out/iperf3-$length.out" <<'PY' | tee -a "$out/iperf3.txt"
import json, sys
end = json.load(open(sys.argv[1]))["end"]
sent, cpu = end["sum_sent"], end["cpu_utilization_percent"]
gb, secs = sent["bytes"] / 1e9, sent["seconds"]
print(f"{sent['bytes'] / secs / 1e6:.0f} MB/s; sender {cpu['host_total'] / 100 * secs / gb:.3f} "
      f"core-s per GB, receiver {cpu['remote_total'] / 100 * secs / gb:.3f}")
PY
    done
fi

start_weir "$current" current
taskset -c "$client_cpu" "$current" perf produce t1 -b "$bootstrap" --num-records "$records" \
    --acks 1 --quiet >"$out/produce.txt"
stop_weir

for i in $(seq 1 "$repeats"); do
    for build in "${builds[@]}"; do
        binary=$(binary_of "$build")
        # Cold data, as the goal asks: nothing of the files in the page cache. (The broker
        # reads with O_DIRECT, so it would not use the page cache anyway.)
        drop_page_cache
        start_weir "$binary" "$build"
        taskset -c "$client_cpu" "$current" perf consume t1 -b "$bootstrap" \
            --num-records "$records" --broker-pid "$broker" $fetch --output json --quiet \
            >"$out/consume-$build.$i.json"
        stop_weir
    done
done
python3 perf/summarize.py "$out"
