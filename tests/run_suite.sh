#!/usr/bin/env bash
# Runs the doctest runner given as $1, then every tests/*_test.sh script, and ends
# with one summary line "tests: N passed, M failed" (test cases plus scripts).
set -u
runner=$1
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

"$runner" 2>&1 | tee "$log"
runner_rc=${PIPESTATUS[0]}
summary=$(grep -E '^\[doctest\] test cases:' "$log" | tail -n 1)
passed=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$summary")
[[ $passed =~ ^[0-9]+$ ]] || passed=0
[[ $failed =~ ^[0-9]+$ ]] || failed=1  # no summary line: the runner crashed
if [ "$runner_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

for script in tests/*_test.sh; do
    [ -e "$script" ] || continue
    if bash "$script"; then
        echo "[script] PASS $script"; passed=$((passed + 1))
    else
        echo "[script] FAIL $script"; failed=$((failed + 1))
    fi
done

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
