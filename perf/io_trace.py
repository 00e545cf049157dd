"""Each io_uring request's own time, and where a partition's writes stall, from kernel tracepoints.

Record while a workload runs (root; -a: the io_uring workers and block completions run on other
threads and CPUs):

    perf record -a -o io.data -e io_uring:io_uring_submit_req -e io_uring:io_uring_complete \
        -e block:block_rq_issue -e block:block_rq_complete -- sleep 6
    perf script -i io.data > io.txt
    python3 perf/io_trace.py io.txt [more.txt ...]

For each file it prints, per io_uring opcode, how many requests completed and their time from
submission to completion (p50 / p99 / max); the same for block requests by direction (R/W/F);
and the longest gaps between two fdatasync completions (FSYNC), with the segment writes
(WRITE_FIXED) in flight across each gap: an acks=all producer waits at least that long.
"""
import re
import sys
from collections import defaultdict

from summarize import percentile

EVENT = re.compile(r"^\s*(\S+)\s+\d+\s+\[(\d+)\]\s+(\d+\.\d+):\s+(\S+):\s(.*)")
SUBMIT = re.compile(r"req (\S+), user_data \S+, opcode (\S+),")
COMPLETE = re.compile(r"req (\S+), user_data")
BLOCK_ISSUE = re.compile(r"\d+,\d+ (\S+) \d+ \(.*?\) (\d+) \+ \d+")
BLOCK_COMPLETE = re.compile(r"\d+,\d+ (\S+) \(.*?\) (\d+) \+ \d+")


def summary(values):
    ordered = sorted(values)
    return (f"n={len(ordered):6d}  p50 {percentile(ordered, 0.5):7.2f}  "
            f"p99 {percentile(ordered, 0.99):7.2f}  max {ordered[-1]:8.2f} ms")


def analyze(path):
    submitted = {}  # req -> (time, opcode)
    completed = []  # (submit time, complete time, opcode)
    block_issued = {}  # sector -> (time, direction)
    block = defaultdict(list)
    for line in open(path, errors="replace"):
        match = EVENT.match(line)
        if not match:
            continue
        time, event, rest = float(match[3]), match[4], match[5]
        if event == "io_uring:io_uring_submit_req":
            found = SUBMIT.search(rest)
            if found:
                submitted[found[1]] = (time, found[2])
        elif event == "io_uring:io_uring_complete":
            found = COMPLETE.search(rest)
            if found and found[1] in submitted:
                start, opcode = submitted.pop(found[1])
                completed.append((start, time, opcode))
        elif event == "block:block_rq_issue":
            found = BLOCK_ISSUE.search(rest)
            if found:
                block_issued[found[2]] = (time, found[1][0])
        elif event == "block:block_rq_complete":
            found = BLOCK_COMPLETE.search(rest)
            if found and found[2] in block_issued:
                start, direction = block_issued.pop(found[2])
                block[direction].append((time - start) * 1000)

    print(f"== {path}")
    by_opcode = defaultdict(list)
    for start, end, opcode in completed:
        by_opcode[opcode].append((end - start) * 1000)
    print("io_uring requests, submission to completion:")
    for opcode, values in sorted(by_opcode.items(), key=lambda item: -len(item[1])):
        print(f"  {opcode:14s} {summary(values)}")
    print("block requests, issue to completion (R read, W write, F flush):")
    for direction, values in sorted(block.items(), key=lambda item: -len(item[1])):
        print(f"  {direction:14s} {summary(values)}")

    syncs = sorted(end for _, end, opcode in completed if opcode == "FSYNC")
    writes = [(start, end) for start, end, opcode in completed if opcode == "WRITE_FIXED"]
    gaps = sorted(((b - a) * 1000, a, b) for a, b in zip(syncs, syncs[1:]))[-5:]
    if gaps:
        print("longest gaps between FSYNC completions, with the segment writes across them:")
    for gap, a, b in reversed(gaps):
        spanning = [(end - start) * 1000 for start, end in writes if start < b and end > a]
        longest = f", the longest {max(spanning):.2f} ms" if spanning else ""
        print(f"  {gap:8.2f} ms: {len(spanning)} WRITE_FIXED{longest}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for trace in sys.argv[1:]:
        analyze(trace)
