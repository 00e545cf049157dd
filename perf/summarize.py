"""Medians of the `weir perf --output json` reports that perf/broker-bench.sh wrote:
one Markdown row per workload (runs named <workload>.<n>.json)."""

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(sorted_values, quantile):
    """The value at `quantile` (0..1) of values sorted ascending (nearest rank)."""
    index = min(len(sorted_values) - 1, int(quantile * len(sorted_values)))
    return sorted_values[index]


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def main(directory):
    runs = defaultdict(list)
    for path in sorted(Path(directory).glob("*.json")):
        workload = path.name.rsplit(".", 2)[0]
        try:
            runs[workload].append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            print(f"skipping {path.name}: not a finished report", file=sys.stderr)
    transactional = any(
        r.get("transactions_committed") is not None for reports in runs.values() for r in reports
    )
    commits = " commits/s |" if transactional else ""
    print("| workload | runs | MiB/s | records/s | produce p50 / p99 / p99.9 ms | e2e p50 / p99 / p99.9 ms | broker core-s per GB | client core-s per GB | client busy |" + commits)
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if transactional else ""))
    for workload, reports in runs.items():
        def latency(name, percentile):
            return median(
                [r["latency"].get(f"{name}_latency_ms", {}).get(percentile) for r in reports]
            )

        def triple(name):
            values = [latency(name, p) for p in ("p50", "p99", "p99.9")]
            return "-" if values[0] is None else " / ".join(fmt(v, 2) for v in values)

        incomplete = sum(1 for r in reports if not r["complete"])
        note = f" ({incomplete} incomplete)" if incomplete else ""
        print(
            f"| {workload}{note} | {len(reports)} "
            f"| {fmt(median([r['mib_per_sec'] for r in reports]))} "
            f"| {fmt(median([r['records_per_sec'] for r in reports]), 0)} "
            f"| {triple('produce')} | {triple('end_to_end')} "
            f"| {fmt(median([r['broker_cpu_core_seconds_per_gb'] for r in reports]), 2)} "
            f"| {fmt(median([r.get('client_cpu_core_seconds_per_gb') for r in reports]), 2)} "
            f"| {fmt(median([r.get('client_busy_share') for r in reports]), 2)} |"
            + (
                f" {fmt(median([r.get('transactions_per_sec') for r in reports]))} |"
                if transactional
                else ""
            )
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/perf-run")
