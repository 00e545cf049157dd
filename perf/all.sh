#!/usr/bin/env bash
# Every workload of issue 19 in one command, with the machine's limits measured in the same run:
# fio on the data disk, iperf3 over loopback, then produce cost (acks=1 and all), consume from
# cold segment files, acks=all and end to end at a fixed 50 MiB/s (pinned apart, and unpinned
# beside it), catch-up isolation, and RF=3 beside RF=1 on a 3-broker cluster. Broker on CPU 0,
# clients on CPU 1 throughout (BROKER_CPU / CLIENT_CPU), release build, medians of the repeats.
#
# Usage: bash perf/all.sh [repeats, default 3]   (about 25 minutes with 3 repeats)
# Output: target/perf-all/REPORT.md — every table under the command that made it — and, beside
# it, SVG plots of latency by percentile (`weir perf plot`, each curve the repeat with the median
# p99). Each script's raw reports stay in its own target/perf-*/ directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${1:-3}"
out=target/perf-all
report="$out/REPORT.md"
rm -rf "$out"
mkdir -p "$out"
source perf/lib.sh
install_missing fio iperf3 || exit 1
cargo build --release --quiet
weir=target/release/weir

# The I/O scheduler of the disk under target/ (the data directories), e.g. "[mq-deadline]".
disk=$(basename "$(findmnt -no SOURCE -T target)")
[ -e "/sys/block/$disk" ] || disk=$(lsblk -no pkname "/dev/$disk" 2>/dev/null | head -1)
scheduler=$(cat "/sys/block/$disk/queue/scheduler" 2>/dev/null || echo unknown)
{
    echo "# Weir performance run, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')," \
        "$(nproc) cores, kernel $(uname -r)," \
        "data disk $disk, I/O scheduler: $scheduler."
    echo "Command: \`bash perf/all.sh $repeats\`; broker on CPU ${BROKER_CPU:-0}, clients on CPU ${CLIENT_CPU:-1}."
} >"$report"

# Runs one script, its Markdown on stdout appended to the report under a heading and its command.
section() { # title, command...
    local title=$1
    shift
    echo "== $title" >&2
    {
        echo
        echo "## $title"
        echo
        echo "Command: \`$*\`"
        echo
        echo '```'
    } >>"$report"
    "$@" 2>>"$out/stderr.log" | tee -a "$report"
    echo '```' >>"$report"
}

# Draws the median repeat of each named set of reports: plot FILE TITLE LABEL=LATENCY:GLOB...
plot() {
    local file=$1 title=$2
    shift 2
    local curves=()
    for spec in "$@"; do
        local label=${spec%%=*} rest=${spec#*=}
        local latency=${rest%%:*} glob=${rest#*:}
        # shellcheck disable=SC2086 # the glob is meant to expand
        curves+=("$label=$(python3 perf/median_report.py "$latency" $glob)#$latency")
    done
    "$weir" perf plot -o "$out/$file" --title "$title" "${curves[@]}"
    echo "![$title]($file)" >>"$report"
}

section "The data disk's limits" bash perf/disk-limits.sh "$out/fio" 1M 10 read
section "Produce cost: 1 KiB records, acks=1 and acks=all, librdkafka's defaults" \
    bash perf/produce.sh "$repeats"
section "Consume from cold segment files (with iperf3's loopback limits)" \
    bash perf/consume.sh "$repeats"
section "acks=all and end to end at a fixed 50 MiB/s" bash perf/fixed-rate.sh "$repeats" 10
plot fixed-rate.svg "acks=all at 50 MiB/s, 1 KiB records, linger 1 ms" \
    "pinned=produce:target/perf-fixed/produce-pinned.*.json" \
    "unpinned=produce:target/perf-fixed/produce-unpinned.*.json" \
    "e2e linger 1=end_to_end:target/perf-fixed/e2e-linger-1.*.json" \
    "e2e linger 0=end_to_end:target/perf-fixed/e2e-linger-0.*.json"
section "Catch-up isolation: a producer at 20 MiB/s beside a reader of 4 GiB of cold data" \
    bash perf/catch-up.sh "$repeats"
plot catch-up.svg "producer at 20 MiB/s, acks=all: alone and beside a catch-up reader" \
    "alone=produce:target/perf-catch-up/producer-alone-current.*.json" \
    "beside the reader=produce:target/perf-catch-up/producer-with-reader-current.*.json"
section "Replication: RF=3 beside RF=1 on one 3-broker cluster" \
    bash perf/replicated.sh "$repeats" 10
plot replicated.svg "acks=all at 20 MiB/s: RF=1 and RF=3 (three brokers on one core)" \
    "RF 1=produce:target/perf-replicated/rf1-acks-all-fixed-rate.*.json" \
    "RF 3=produce:target/perf-replicated/rf3-acks-all-fixed-rate.*.json"
echo "report: $report" >&2
