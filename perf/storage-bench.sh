#!/usr/bin/env bash
# Storage engine figures for perf/RESULTS.md, measured in one run so that the ratios hold:
# the disk's own limits (fio, direct I/O, on the same filesystem as target/) next to the
# partition log's criterion benchmarks and its durable-append latency percentiles.
# Usage: bash perf/storage-bench.sh [criterion measurement seconds, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
command -v fio >/dev/null || { echo "fio is needed: apt-get install -y fio" >&2; exit 1; }
scratch=target/bench-data/fio
mkdir -p "$scratch"
echo "== machine: $(nproc) cores, kernel $(uname -r), $(df -h --output=source,fstype . | tail -1)"
echo "== fio: sequential O_DIRECT write, 128 KiB blocks, io_uring, iodepth 16"
fio --name=seqwrite --directory="$scratch" --size=2G --bs=128k --rw=write --direct=1 \
    --ioengine=io_uring --iodepth=16 --runtime=15 --time_based --group_reporting \
    | grep -E "WRITE:|iops" | head -3
echo "== fio: 4 KiB O_DIRECT write + fdatasync, one at a time"
fio --name=syncwrite --directory="$scratch" --size=64M --bs=4k --rw=write --direct=1 \
    --ioengine=psync --fdatasync=1 --runtime=10 --time_based \
    | grep -E "WRITE:|iops|clat percentiles|50.00th|99.00th|99.90th" | head -8
rm -rf "$scratch"
args=(-- --warm-up-time 1 --measurement-time "$secs")
echo "== criterion: record batch validation"
cargo bench --bench record "${args[@]}" 2>&1 | grep -E "^[a-z_]+/|time:|thrpt:"
echo "== criterion: partition log"
cargo bench --bench log "${args[@]}" 2>&1 | grep -E "^[a-z_]+/|time:|thrpt:"
echo "== durable append latency"
cargo bench --bench log_latency 2>&1 | grep -E "weir|raw|ratio"
