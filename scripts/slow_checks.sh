#!/usr/bin/env bash
# Run the slow tier's float64 output checks listed in .ci/slow_checks.txt:
#   scripts/slow_checks.sh ci     the ones CI runs (.ci/run, job 2)
#   scripts/slow_checks.sh hand   the rest: the largest models, too slow for CI's budget
#   scripts/slow_checks.sh all    every one (the same as `python -m pytest -m slow tests/zoo/test_fidelity.py`)
# Extra arguments go to pytest (e.g. -x, --durations=0).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-ci}"
shift || true
case "$which" in ci|hand|all) ;; *) echo "usage: scripts/slow_checks.sh ci|hand|all [pytest args]" >&2; exit 2 ;; esac
mapfile -t ids < <(awk -v w="$which" '!/^#/ && NF >= 2 && (w == "all" || $1 == w) {print "tests/zoo/test_fidelity.py::test_outputs_equal_reference[" $2 "]"}' .ci/slow_checks.txt)
exec python -m pytest -q -m slow -p no:cacheprovider "$@" "${ids[@]}"
