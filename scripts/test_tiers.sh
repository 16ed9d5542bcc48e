#!/usr/bin/env bash
# Every test, in the least wall time two cores allow. The pure and hub tiers need no stack:
# those of the newest releases (.venv) and of the z2jh hub image's versions (.venv-z2jh)
# run side by side, one process per core. Then the stack and browser tiers, which share
# the one dev stack, run alone, so that the timings they assert are not squeezed by the
# others. Each run's exit status counts: a failure or a run that collects nothing (pytest's
# 5) fails the whole.
#
#   scripts/test_tiers.sh NEWEST_PYTHON Z2JH_PYTHON [pytest arguments...]
set -uo pipefail
newest=$1
z2jh=$2
shift 2
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

started=$(date +%s)
"$newest" -m pytest tests/unit tests/hub -ra "$@" >"$logs/newest.log" 2>&1 &
newest_pid=$!
"$z2jh" -m pytest tests/unit tests/hub -ra "$@" >"$logs/z2jh.log" 2>&1
z2jh_status=$?
wait "$newest_pid"
newest_status=$?
for run in newest z2jh; do
    echo "==== tests/unit and tests/hub on the ${run} package set ($run.log)"
    cat "$logs/$run.log"
done
echo "[tests] unit and hub tiers, both package sets side by side: $(( $(date +%s) - started ))s" \
     "(exit ${newest_status} newest, ${z2jh_status} z2jh)"
if [ "$newest_status" -ne 0 ] || [ "$z2jh_status" -ne 0 ]; then
    exit 1
fi

started=$(date +%s)
# Every other test directory: the stack and browser tiers, and any tier added later.
"$newest" -m pytest tests --ignore=tests/unit --ignore=tests/hub -ra "$@"
status=$?
echo "[tests] stack and browser tiers: $(( $(date +%s) - started ))s (exit $status)"
exit "$status"
