"""Prints a Markdown table of medians from a TSV of runs: each line is a group name (a workload,
a build) then numbers; each group gets one row with its number of runs and the median of each
column.

Usage: python3 perf/tsv_medians.py RESULTS.tsv GROUP-HEADER COLUMN:FORMAT...
  e.g. python3 perf/tsv_medians.py results.tsv workload "MiB/s:.1f" "broker core-s per GB:.2f"
"""
import statistics
import sys
from collections import defaultdict


def main():
    path, group_header, columns = sys.argv[1], sys.argv[2], sys.argv[3:]
    specs = [column.rsplit(":", 1) for column in columns]
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            group, *values = line.rstrip("\n").split("\t")
            runs[group].append([float(v) for v in values])
    print("| " + " | ".join([group_header, "runs"] + [name for name, _ in specs]) + " |")
    print("|" + "---|" * (len(specs) + 2))
    for group, values in runs.items():
        medians = [
            format(statistics.median(v[i] for v in values), fmt)
            for i, (_, fmt) in enumerate(specs)
        ]
        print("| " + " | ".join([group, str(len(values))] + medians) + " |")


if __name__ == "__main__":
    main()
