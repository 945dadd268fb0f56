#!/usr/bin/env bash
# The whole pytest suite as two pytest processes side by side: most tests wait (on real
# sleeps, servers, the browser) rather than compute, so two at once take little more
# than the longer one. The reliability suite stays whole in one process (it records
# RELIABILITY.md after a complete, passing run), with the browser tests; everything
# else in the other. That one's output comes first, then the first one's, each whole.
# Fails when either fails, or runs no test.
#
#   scripts/pytest_in_two.sh [PYTHON]      (default .venv/bin/python)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
log=$(mktemp "${TMPDIR:-/tmp}/pytest-reliability-browser.XXXXXX")
trap 'rm -f "$log"' EXIT

"$PY" -m pytest tests/reliability tests/browser >"$log" 2>&1 &
other=$!
"$PY" -m pytest --ignore=tests/reliability --ignore=tests/browser
rest=$?
wait "$other"
first=$?
echo
echo "=================== tests/reliability and tests/browser ==================="
cat "$log"
echo "pytest exit codes: tests/reliability and tests/browser $first; the rest $rest"
[ "$first" -eq 0 ] && [ "$rest" -eq 0 ]
