#!/usr/bin/env bash
# Storage engine figures for perf/RESULTS.md, measured in one run so that the ratios hold:
# the disk's own limits (fio, direct I/O, on the same filesystem as target/) next to the
# partition log's criterion benchmarks and its durable-append latency percentiles.
# Usage: bash perf/storage-bench.sh [criterion measurement seconds, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
scratch=target/bench-data/fio
bash perf/disk-limits.sh "$scratch" 128k 15
rm -rf "$scratch"
args=(-- --warm-up-time 1 --measurement-time "$secs")
echo "== criterion: record batch validation"
cargo bench --bench record "${args[@]}" 2>&1 | grep -E "^[a-z_]+/|time:|thrpt:"
echo "== criterion: partition log"
cargo bench --bench log "${args[@]}" 2>&1 | grep -E "^[a-z_]+/|time:|thrpt:"
echo "== durable append latency"
cargo bench --bench log_latency 2>&1 | grep -E "weir|raw|ratio"
