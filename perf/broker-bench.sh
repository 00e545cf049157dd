#!/usr/bin/env bash
# End-to-end figures for perf/RESULTS.md, all in one run so that the ratios hold: the machine's
# own limits (fio on the data directory's file system, iperf3 over loopback) next to
# `weir perf` workloads against a fresh `weir serve` (the goals of issue 7), each repeated and
# reported as a median.
#
# Usage: bash perf/broker-bench.sh [repeats, default 3] [records per throughput run, default 1000000]
# Output: a summary on stdout; every JSON report under target/perf-run/.
# Needs fio and iperf3 (installed with apt-get when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
repeats="${1:-3}"
records="${2:-1000000}"
out=target/perf-run
data="$out/data"
port=19192
admin=19644
bootstrap="127.0.0.1:$port"

install_missing fio iperf3 || exit 1

cargo build --release --quiet
weir=target/release/weir
rm -rf "$out"
mkdir -p "$out" "$data"

bash perf/disk-limits.sh "$out" 1M 10 read
echo "== iperf3: one TCP stream over loopback, 10 s"
iperf3 -s -1 -p 15201 >/dev/null 2>&1 &
sleep 0.5
iperf3 -c 127.0.0.1 -p 15201 -t 10 -f m | grep -E "receiver"

broker_pid=""
start_broker() {
    "$weir" serve --override "listeners=PLAINTEXT://$bootstrap" --override "log.dirs=$data" \
        --override "admin.listener=127.0.0.1:$admin" "$@" >>"$out/broker.log" 2>&1 &
    broker_pid=$!
    wait_for_port "$port" && return 0
    echo "the broker did not start; see $out/broker.log" >&2
    exit 1
}
stop_broker() {
    kill -TERM "$broker_pid"
    wait "$broker_pid" || true
}
trap 'kill $broker_pid 2>/dev/null || true' EXIT

start_broker
perf() { # name, then weir perf arguments
    local name=$1
    shift
    for i in $(seq 1 "$repeats"); do
        "$weir" perf "$@" -b "$bootstrap" --broker-pid "$broker_pid" --output json --quiet \
            >"$out/$name.$i.json"
    done
}

mib=$((records * 1024 / 1048576))
echo "== weir perf: $repeats runs each, $records records of 1 KiB ($mib MiB) per throughput run"
perf produce-1p-acks1-none produce t1 --partitions 1 --num-records "$records" --acks 1
perf produce-8p-acks1-none produce t8 --partitions 8 --num-records "$records" --acks 1
perf produce-1p-acks1-lz4 produce t1lz4 --partitions 1 --num-records "$records" --acks 1 --compression lz4
perf produce-1p-acksall-none produce t1all --partitions 1 --num-records "$records" --acks all
perf produce-8p-acksall-none produce t8all --partitions 8 --num-records "$records" --acks all
perf consume-1p consume t1 --num-records "$records"
perf consume-8p consume t8 --num-records "$records"
# Latency at a fixed load: 50 MB/s of 1 KiB records with fsync before every ack.
perf fixed-50MBps-acksall produce tfixed --rate 51200 --duration-secs 15 --acks all --linger-ms 1
perf e2e-50MBps-acksall e2e te2e --rate 51200 --duration-secs 15 --acks all --linger-ms 1

# Catch-up isolation (KAFKA-7504): p99 at a fixed 20 MB/s with and without a consumer
# reading 2 GB of cold data from the start of t1 at the same time, alternated.
cold=$((2 * 1024 * 1024))
for i in $(seq 1 "$repeats"); do
    "$weir" perf produce tiso --rate 20480 --duration-secs 10 --acks all --linger-ms 1 \
        -b "$bootstrap" --broker-pid "$broker_pid" --output json --quiet >"$out/isolation-alone.$i.json"
    "$weir" perf consume t1 --num-records "$cold" -b "$bootstrap" --output json --quiet \
        >"$out/isolation-reader.$i.json" &
    reader=$!
    "$weir" perf produce tiso --rate 20480 --duration-secs 10 --acks all --linger-ms 1 \
        -b "$bootstrap" --broker-pid "$broker_pid" --output json --quiet >"$out/isolation-with-reader.$i.json"
    wait "$reader" || true
done

# Scale: 1,000 partitions. Idle memory per partition from a fresh broker's RSS before and
# after creating them (a fresh one: after the runs above its heap has free pages to reuse);
# throughput over all of them; start-up time over everything stored.
rss() { awk '/VmRSS/ {print $2}' "/proc/$broker_pid/status"; }
stop_broker
mv "$data" "$out/data-kept"
start_broker
before=$(rss)
"$weir" topic create t1000 --partitions 1000 -b "$bootstrap" >/dev/null
sleep 2
after=$(rss)
echo "idle memory: $(( (after - before) / 1000 )) KiB per partition (RSS $before -> $after KiB)" | tee "$out/scale.txt"
stop_broker
rm -rf "$data"
mv "$out/data-kept" "$data"
start_broker
"$weir" topic create t1000 --partitions 1000 -b "$bootstrap" >/dev/null
perf produce-1000p-acks1-none produce t1000 --num-records "$records" --acks 1
stop_broker
stored=$(du -sm "$data" | cut -f1)
for i in $(seq 1 "$repeats"); do
    started=$(date +%s.%N)
    start_broker
    ready=$(date +%s.%N)
    echo "start-up $i: $(awk "BEGIN {print $ready - $started}") s with $stored MiB stored" | tee -a "$out/scale.txt"
    stop_broker
done

python3 perf/summarize.py "$out"
