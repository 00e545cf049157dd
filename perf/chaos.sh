#!/usr/bin/env bash
# The fault suite's soak (issue 17): consecutive runs of the `chaos` test's seeded fault
# schedule, each on a fresh cluster in its own network namespace, until the minutes are spent.
# Run k uses seed S+k, so any failing run replays alone with the line it prints.
#
#   perf/chaos.sh --minutes 60 --seed 1 [--faults kill,pause,partition,bridge,one-way,loss,controller]
#                 [--layout combined|separate|both] [--run-minutes 10]
#
# Needs root (network namespaces, nftables, loop devices). Ends with one line:
# `N passed, M failed`. Each run's report (faults, records checked, availability per fault
# kind, anomalies) goes to perf/results/chaos-<seed>.log and its summary to stderr, then the
# soak's totals (perf/chaos_summary.py) as the Markdown tables of RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=60 seed=1 faults="" layout=both run_minutes=10
while [[ $# -gt 0 ]]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --faults) faults="$2"; shift 2 ;;
        --layout) layout="$2"; shift 2 ;;
        --run-minutes) run_minutes="$2"; shift 2 ;;
        *) echo "unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
    esac
done

if [[ -n $faults ]]; then export WEIR_CHAOS_FAULTS=$faults; fi
scripts/install-test-clients.sh >/dev/null
cargo test --test chaos --no-run 2>&1 | tail -1
rm -rf perf/results
mkdir -p perf/results
deadline=$(( $(date +%s) + minutes * 60 ))
passed=0 failed=0 run=0
while (( $(date +%s) < deadline )); do
    left=$(( (deadline - $(date +%s) + 59) / 60 ))
    this_minutes=$(( left < run_minutes ? left : run_minutes ))
    this_seed=$(( seed + run ))
    this_layout=$layout
    if [[ $layout == both ]]; then
        this_layout=$([[ $(( run % 2 )) == 0 ]] && echo combined || echo separate)
    fi
    log=perf/results/chaos-$this_seed.log
    echo "run $run: seed $this_seed, $this_layout, $this_minutes min" >&2
    if WEIR_CHAOS_SEED=$this_seed WEIR_CHAOS_MINUTES=$this_minutes WEIR_CHAOS_LAYOUT=$this_layout \
        cargo test -q --test chaos soak -- --ignored --nocapture >"$log" 2>&1; then
        passed=$(( passed + 1 ))
    else
        failed=$(( failed + 1 ))
    fi
    sed -n '/^chaos: /,/anomalies/p;/replay:/p' "$log" >&2
    run=$(( run + 1 ))
done
# The soak's totals, as RESULTS.md records them (runs, fault kinds, availability).
python3 perf/chaos_summary.py perf/results/chaos-*.log >&2 || true
echo "$passed passed, $failed failed"
