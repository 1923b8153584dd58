#!/usr/bin/env bash
# Sums the cmocka counts of every C test binary in a meson test log into one line.
set -euo pipefail
log=$1
count() { { grep -ao "\[  $1  \] [0-9]* test" "$log" || true; } | awk '{s+=$4} END {print s+0}'; }
passed=$(count PASSED)
failed=$(count FAILED)
echo "C unit tests (cmocka): $passed passed, $failed failed"
[ "$failed" = 0 ]
