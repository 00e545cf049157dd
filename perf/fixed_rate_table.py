"""The table of perf/fixed-rate.sh: medians over its runs of `weir perf` (JSON reports) and of
rdkafka_performance (its -A file: one acknowledgement latency in microseconds per line)."""

import json
import sys
from collections import defaultdict
from pathlib import Path

from summarize import median, percentile

PERCENTILES = [("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999)]


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def weir_rows(directory):
    runs = defaultdict(list)
    for path in sorted(Path(directory).glob("*.json")):
        runs[path.name.rsplit(".", 2)[0]].append(json.loads(path.read_text()))
    for name, reports in runs.items():
        for latency in ("produce", "end_to_end"):
            key = f"{latency}_latency_ms"
            if key not in reports[0]["latency"]:
                continue
            triple = [median([r["latency"][key][p] for r in reports]) for p, _ in PERCENTILES]
            yield {
                "workload": f"weir perf {name} ({latency})",
                "runs": len(reports),
                "mib_per_sec": median([r["mib_per_sec"] for r in reports]),
                "latency": triple,
                "client_busy": median([r.get("client_busy_share") for r in reports]),
                "client_per_gb": median([r["client_cpu_core_seconds_per_gb"] for r in reports]),
                "broker_per_gb": median([r["broker_cpu_core_seconds_per_gb"] for r in reports]),
                "incomplete": sum(1 for r in reports if not r["complete"]),
            }


def rdkafka_rows(directory):
    files = sorted(Path(directory).glob("rdkafka-performance.*.us"))
    if not files:
        return
    triples = []
    client_per_gb = []
    for path in files:
        values = sorted(int(line) for line in path.read_text().split() if line.strip())
        if values:
            triples.append([percentile(values, q) / 1000.0 for _, q in PERCENTILES])
            cpu = path.with_suffix(".cpu")
            if cpu.exists():
                user, system = (float(x) for x in cpu.read_text().split()[-2:])
                client_per_gb.append((user + system) / (len(values) * 1024 / 1e9))
    yield {
        "workload": "rdkafka_performance (produce, from send)",
        "runs": len(triples),
        "mib_per_sec": None,
        "latency": [median([t[i] for t in triples]) for i in range(len(PERCENTILES))],
        "client_busy": None,
        "client_per_gb": median(client_per_gb),
        "broker_per_gb": None,
        "incomplete": 0,
    }


def main(directory):
    print("| workload | runs | MiB/s | latency p50 / p99 / p99.9 ms | client busy (share of its cores) | client core-s per GB | broker core-s per GB |")
    print("|---|---|---|---|---|---|---|")
    for row in list(weir_rows(directory)) + list(rdkafka_rows(directory)):
        flag = f" ({row['incomplete']} incomplete)" if row["incomplete"] else ""
        print(
            f"| {row['workload']}{flag} | {row['runs']} | {fmt(row['mib_per_sec'], 1)} | "
            + " / ".join(fmt(v) for v in row["latency"])
            + f" | {fmt(row['client_busy'])} | {fmt(row['client_per_gb'])} | {fmt(row['broker_per_gb'])} |"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/perf-fixed")
