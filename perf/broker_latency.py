"""The broker's own produce latency per topic, from `/metrics` scrapes saved by the perf scripts
(`weir_partition_produce_latency_seconds`: request at the partition's owner until its acks are
met), so that a figure can be read without the client's queueing, linger and scheduling.

Usage: python3 perf/broker_latency.py DIR
Reads DIR/broker-latency-NAME.N.txt (one scrape per repeat N of build or run NAME) and prints a
Markdown table: per NAME and topic, the median over repeats of p50, p99, p99.9 and max, in ms.
"""
import re
import sys
from collections import defaultdict
from pathlib import Path

from summarize import median

QUANTILES = ("0.5", "0.99", "0.999", "1")
LINE = re.compile(r'.*topic="([^"]+)".*quantile="([^"]+)"\} (\S+)')
FILE = re.compile(r"broker-latency-(.+)\.\d+\.txt$")


def main():
    values = defaultdict(list)  # (name, topic, quantile) -> [ms]
    for path in sorted(Path(sys.argv[1]).glob("broker-latency-*.txt")):
        name = FILE.match(path.name)
        if not name:
            continue
        for line in path.read_text().splitlines():
            match = LINE.match(line)
            if match and match[2] in QUANTILES:
                values[(name[1], match[1], match[2])].append(float(match[3]) * 1000)
    print("| run | topic | p50 | p99 | p99.9 | max |")
    print("|---|---|---|---|---|---|")
    for name, topic in sorted({(k[0], k[1]) for k in values}):
        cells = [f"{median(values[(name, topic, q)]):.2f}" for q in QUANTILES]
        print(f"| {name} | {topic} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
