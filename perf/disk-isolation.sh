#!/usr/bin/env bash
# The disk's own isolation, for the catch-up goal (issue 19) to be read against: fio's 4 KiB
# O_DIRECT write + fdatasync, one at a time (an acks=all producer's segment write and sync),
# alone and then beside a sequential O_DIRECT reader with 4 reads of 1 MiB in flight through
# io_uring (what a catch-up consumer's read-ahead keeps in flight: `log.read.ahead.bytes` 4 MiB),
# and the reader alone. No broker: what the file system and the device do by themselves.
#
# Usage: bash perf/disk-isolation.sh [directory on the data disk, default target/perf-disk-isolation]
#   SECS=seconds per run (default 10); READ_DEPTH=reads in flight (default 4).
# Output: the writer's fdatasync latency percentiles and the reader's MiB/s, alone and together.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/lib.sh
install_missing fio || exit 1
dir="${1:-target/perf-disk-isolation}"
secs="${SECS:-10}"
depth="${READ_DEPTH:-4}"
mkdir -p "$dir"

# Lays the reader's file out once (4 GiB, written with O_DIRECT like a segment).
fio --name=reader --directory="$dir" --size=4G --bs=1M --rw=write --direct=1 \
    --ioengine=io_uring --iodepth=16 >/dev/null

writer() { # fio's JSON out
    taskset -c 0 fio --name=writer --directory="$dir" --size=256M --bs=4k --rw=write --direct=1 \
        --ioengine=psync --fdatasync=1 --runtime="$secs" --time_based --output-format=json >"$1"
}
reader() { # fio's JSON out
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    taskset -c 1 fio --name=reader --directory="$dir" --size=4G --bs=1M --rw=read --direct=1 \
        --ioengine=io_uring --iodepth="$depth" --runtime="$secs" --time_based \
        --output-format=json >"$1"
}
report() { # label, writer JSON (or -), reader JSON (or -)
    python3 - "$@" <<'PY'
import json, sys
label, w, r = sys.argv[1:4]
parts = [label]
if w != "-":
    job = json.load(open(w))["jobs"][0]
    sync = job["sync"]["lat_ns"]["percentile"]
    ms = lambda p: sync[p] / 1e6
    write = job["write"]["clat_ns"]["percentile"]
    wms = lambda p: write[p] / 1e6
    parts.append(f"write p50 {wms('50.000000'):.2f} / p99 {wms('99.000000'):.2f} / "
                 f"p99.9 {wms('99.900000'):.2f} ms, fdatasync p50 {ms('50.000000'):.2f} / "
                 f"p99 {ms('99.000000'):.2f} / p99.9 {ms('99.900000'):.2f} ms, "
                 f"{job['write']['iops']:.0f} write+sync/s")
if r != "-":
    job = json.load(open(r))["jobs"][0]
    parts.append(f"reader {job['read']['bw'] / 1024:.0f} MiB/s")
print(" | ".join(parts))
PY
}

echo "== fio on $(df --output=source "$dir" | tail -1): writer 4 KiB + fdatasync (CPU 0), reader 1 MiB x $depth in flight (CPU 1), ${secs} s each"
writer "$dir/writer-alone.json"
report "writer alone" "$dir/writer-alone.json" -
reader "$dir/reader-alone.json"
report "reader alone" - "$dir/reader-alone.json"
reader "$dir/reader-beside.json" &
sleep 0.2
writer "$dir/writer-beside.json"
wait
report "together" "$dir/writer-beside.json" "$dir/reader-beside.json"
rm -f "$dir"/reader.* "$dir"/writer.*
