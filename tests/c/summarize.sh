#!/usr/bin/env bash
# Sums the cmocka counts of every C test binary in a meson test log into one line.
set -euo pipefail
log=$1
passed=$(grep -ao '\[  PASSED  \] [0-9]* test' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -ao '\[  FAILED  \] [0-9]* test' "$log" | awk '{s+=$4} END {print s+0}')
echo "C unit tests (cmocka): $passed passed, $failed failed"
[ "$failed" = 0 ]
