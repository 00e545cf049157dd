#!/usr/bin/env bash
# The crash-safety soak: tests/crash_safety.rs with many more SIGKILL cycles than CI runs.
#   bash perf/crash-soak.sh --cycles 500 [--seed N]
# A failure prints the seed; --seed N replays the same kill moments.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=500
seed=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cycles) cycles="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        *) echo "usage: $0 [--cycles N] [--seed N]" >&2; exit 2 ;;
    esac
done
export WEIR_CRASH_CYCLES="$cycles"
if [ -n "$seed" ]; then export WEIR_CRASH_SEED="$seed"; fi
exec cargo test --release --test crash_safety -- --nocapture
