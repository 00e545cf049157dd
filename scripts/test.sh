#!/usr/bin/env bash
# The test command (README; .ci/run calls it): installs the test clients, then runs every test.
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-clients.sh
exec cargo test "$@"
