#!/usr/bin/env bash
# The data disk's own limits, measured next to Weir's figures so that the ratios in
# perf/RESULTS.md hold: fio sequential O_DIRECT writes (and reads, with `read`) through io_uring at
# iodepth 16, then 4 KiB O_DIRECT writes each followed by fdatasync, one at a time.
# Usage: bash perf/disk-limits.sh DIR BLOCK_SIZE SECONDS [read]
set -euo pipefail
dir=$1
block=$2
secs=$3
command -v fio >/dev/null || { echo "fio is needed: apt-get install -y fio" >&2; exit 1; }
mkdir -p "$dir"
echo "== machine: $(nproc) cores, kernel $(uname -r), $(df -h --output=source,fstype "$dir" | tail -1)"
sequential() { # fio's rw mode, the summary line to keep
    echo "== fio: sequential O_DIRECT $1, $block blocks, io_uring, iodepth 16"
    fio --name=sequential --directory="$dir" --size=2G --bs="$block" --rw="$1" --direct=1 \
        --ioengine=io_uring --iodepth=16 --runtime="$secs" --time_based --group_reporting \
        | grep -E "$2" | head -1
}
sequential write "WRITE:"
if [ "${4:-}" = read ]; then
    sequential read "READ:"
fi
echo "== fio: 4 KiB O_DIRECT write + fdatasync, one at a time"
fio --name=syncwrite --directory="$dir" --size=64M --bs=4k --rw=write --direct=1 \
    --ioengine=psync --fdatasync=1 --runtime=10 --time_based \
    | grep -E "WRITE:|sync percentiles" -A4 | grep -E "WRITE:|50.00th|99.00th|99.90th" | head -4
rm -f "$dir"/sequential* "$dir"/syncwrite*
