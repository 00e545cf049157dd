"""Prints the path of the report, among those given, whose LATENCY p99 is the median one: the
run a plot of "the typical repeat" should draw.

Usage: python3 perf/median_report.py LATENCY REPORT.json...   (LATENCY: produce, end_to_end)
"""
import json
import sys


def p99(path, latency):
    with open(path) as f:
        return json.load(f)["latency"][f"{latency}_latency_ms"]["p99"]


def main():
    latency, paths = sys.argv[1], sys.argv[2:]
    if not paths:
        sys.exit("no reports given")
    ranked = sorted(paths, key=lambda path: p99(path, latency))
    print(ranked[(len(ranked) - 1) // 2])


if __name__ == "__main__":
    main()
