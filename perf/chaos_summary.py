#!/usr/bin/env python3
"""Sums the reports of a fault-suite soak (perf/chaos.sh) into the Markdown of RESULTS.md.

    python3 perf/chaos_summary.py perf/results/chaos-*.log

Per run: seed, layout, faults, records sent / acknowledged / stored and checked, anomalies.
Per fault kind over all runs: faults, sends during them, the share acknowledged within 6 s,
and the range of the per-run medians of the time from heal to every partition writable.
"""
import re
import sys

RUN = re.compile(r"^chaos: seed (\d+) \((\w+) layout\), (\d+) faults in (\d+)s \((.*)\)")
RECORDS = re.compile(
    r"^  records: (\d+) sent, (\d+) acknowledged, (\d+) failed at the client, (\d+) stored"
)
AVAILABILITY = re.compile(
    r"^  availability during ([\w-]+): ([\d.]+)% of (\d+) sends .* writable again ([\d.]+|-) s?"
)
ANOMALIES = re.compile(r"^  anomalies: (.*)")
EPOCH_DUPLICATES = re.compile(r"^  (\d+) records stored again under a later epoch")


def main(paths):
    runs = []
    kinds = {}
    for path in paths:
        run = None
        for line in open(path, errors="replace"):
            if m := RUN.match(line):
                counts = dict(
                    (k, int(n)) for k, n in (c.rsplit(" ", 1) for c in m.group(5).split(", "))
                )
                run = {
                    "seed": m.group(1),
                    "layout": m.group(2),
                    "faults": int(m.group(3)),
                    "seconds": int(m.group(4)),
                    "counts": counts,
                    "epoch_duplicates": 0,
                }
                runs.append(run)
                for kind, n in counts.items():
                    kinds.setdefault(kind, {"faults": 0, "sends": 0, "acked": 0, "back": []})
                    kinds[kind]["faults"] += n
            elif run and (m := RECORDS.match(line)):
                run.update(
                    sent=int(m.group(1)),
                    acked=int(m.group(2)),
                    failed=int(m.group(3)),
                    stored=int(m.group(4)),
                )
            elif run and (m := EPOCH_DUPLICATES.match(line)):
                run["epoch_duplicates"] = int(m.group(1))
            elif run and (m := AVAILABILITY.match(line)):
                kind = kinds.setdefault(
                    m.group(1), {"faults": 0, "sends": 0, "acked": 0, "back": []}
                )
                sends = int(m.group(3))
                kind["sends"] += sends
                kind["acked"] += round(float(m.group(2)) * sends / 100)
                if m.group(4) != "-":
                    kind["back"].append(float(m.group(4)))
            elif run and (m := ANOMALIES.match(line)):
                run["anomalies"] = m.group(1)
    print("| seed | layout | minutes | faults | sent | acknowledged | stored and checked | anomalies |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['seed']} | {r['layout']} | {r['seconds'] / 60:.1f} | {r['faults']} | "
            f"{r.get('sent', '-')} | {r.get('acked', '-')} | {r.get('stored', '-')} | "
            f"{r.get('anomalies', 'run did not finish')} |"
        )
    total = lambda key: sum(r.get(key, 0) for r in runs)
    print(
        f"| all | | {total('seconds') / 60:.1f} | {total('faults')} | {total('sent')} | "
        f"{total('acked')} | {total('stored')} | |"
    )
    print()
    print("| fault | count | sends during it | acknowledged within 6 s | heal to all writable (per-run medians) |")
    print("|---|---|---|---|---|")
    for kind, k in sorted(kinds.items()):
        share = 100.0 * k["acked"] / k["sends"] if k["sends"] else 100.0
        back = k["back"]
        spread = f"{min(back):.1f}-{max(back):.1f} s" if back else "-"
        print(f"| {kind} | {k['faults']} | {k['sends']} | {share:.1f}% | {spread} |")
    duplicates = total("epoch_duplicates")
    print()
    print(f"Records stored again under a later producer epoch (librdkafka #4953): {duplicates}.")


if __name__ == "__main__":
    main(sys.argv[1:])
