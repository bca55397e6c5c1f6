#!/usr/bin/env bash
# train_mnist's non-finite guard, through --inject-nan OP:STEP: each step with NaN is
# skipped and reported (stderr and metrics.jsonl), and --max-nonfinite of them in a
# row stop the run with a one-line error naming the op. Bad --inject-nan values fail.
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh

tiny=(--data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 --eval-every 0
      --log-every 1 --val-n 4 --sample-n 0 --seed 3)

"$apps/train_mnist" "${tiny[@]}" --steps 9 --inject-nan conv2d:3 --max-nonfinite 3 --out "$tmp/nan" \
    >/dev/null 2>"$tmp/nan.err"
rc=$?
last=$(tail -1 "$tmp/nan.err")
[ "$rc" -eq 1 ] || fail "three NaN steps in a row: exit $rc, expected 1"
[[ $last == "error: stopping at step 5: 3 steps in a row had NaN/Inf; the first came from conv2d forward"* ]] \
    && pass "the run stops after 3 NaN steps in a row, naming the op: $last" || fail "last line: $last"
for k in 1 2 3; do
    grep -q "^step $((k + 2)): NaN/Inf (conv2d forward.*update skipped ($k in a row, $k in all)" "$tmp/nan.err" \
        || fail "no skip line for step $((k + 2)): $(grep NaN "$tmp/nan.err" | head -3)"
done
grep -q '^{"step": 2, "train_bpd"' "$tmp/nan/metrics.jsonl" && grep -q '^{"step": 3, "skipped": 1}$' "$tmp/nan/metrics.jsonl" \
    && pass "metrics.jsonl logs the skipped steps" || fail "metrics.jsonl: $(cat "$tmp/nan/metrics.jsonl")"

# Below the limit the run goes on and ends normally.
"$apps/train_mnist" "${tiny[@]}" --steps 4 --inject-nan group_norm:3 --max-nonfinite 3 --out "$tmp/ok" \
    >"$tmp/ok.json" 2>"$tmp/ok.err" && [[ $(tail -1 "$tmp/ok.json") == *'"step": 4'* ]] \
    && pass "two skipped steps below --max-nonfinite 3: the run finishes" || fail "run with 2 NaN steps: $(tail -1 "$tmp/ok.err")"

expect_error train_mnist "must be OP:STEP" "${tiny[@]}" --inject-nan conv2d
expect_error train_mnist "STEP must be an integer" "${tiny[@]}" --inject-nan conv2d:x
expect_error train_mnist "STEP must be an integer" "${tiny[@]}" --inject-nan conv2d:0
typo=$("$apps/train_mnist" "${tiny[@]}" --steps 3 --inject-nan conv3d:2 --out "$tmp/typo" 2>&1 >/dev/null | tail -1)
[[ $typo == "error: --inject-nan: no op named 'conv3d' ran at step 2"* ]] && pass "an op name nobody records: $typo" \
    || fail "--inject-nan conv3d:2: $typo"
expect_error train_mnist "outside" --max-nonfinite 0
exit $status
