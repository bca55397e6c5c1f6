#!/usr/bin/env bash
# SIGINT and SIGTERM during training (apps/common/signals.h): the step finishes, the checkpoint is written,
# exit 130, and --resume continues from it. Two signals in a row exit at once and
# leave a checkpoint that loads.
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh

tiny=(--data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 --eval-every 0
      --log-every 1 --val-n 4 --sample-n 0 --seed 3 --threads 1 --steps 1000000)

wait_for_steps() {  # wait_for_steps METRICS N: until N lines are logged (at most 60 s)
    for _ in $(seq 600); do
        [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

for signal in INT TERM; do
    out=$tmp/$signal
    "$apps/train_mnist" "${tiny[@]}" --out "$out" >/dev/null 2>"$out.err" &
    pid=$!
    wait_for_steps "$out/metrics.jsonl" 3 || fail "SIG$signal: no progress: $(tail -1 "$out.err")"
    kill -$signal $pid
    wait $pid
    rc=$?
    line=$(grep '^interrupted at step' "$out.err")
    step=$(sed -E 's/^interrupted at step ([0-9]+).*/\1/' <<<"$line")
    if [ "$rc" -eq 130 ] && [[ $line == *"checkpoint $out/checkpoint.safetensors (continue with --resume"* ]]; then
        pass "SIG$signal: exit 130, $line"
    else
        fail "SIG$signal: exit $rc, stderr: $(tail -2 "$out.err")"
    fi
    "$apps/train_mnist" --resume "$out/checkpoint.safetensors" --data "$data" --steps $((step + 2)) --out "$out" \
        --eval-every 0 --val-n 4 --sample-n 0 >"$out.json" 2>/dev/null \
        && [[ $(tail -1 "$out.json") == *"\"step\": $((step + 2))"* ]] \
        && pass "SIG$signal: --resume continues from step $step" || fail "SIG$signal: resume from step $step failed"
done

# Two signals: the second exits at once; whichever checkpoint is on disk loads.
out=$tmp/INT
cp "$out/checkpoint.safetensors" "$tmp/good.safetensors"
"$apps/train_mnist" --resume "$tmp/good.safetensors" --data "$data" --steps 1000000 --out "$out" \
    --eval-every 0 --log-every 1 --val-n 4 --sample-n 0 --threads 1 >/dev/null 2>"$tmp/twice.err" &
pid=$!
lines=$(wc -l <"$out/metrics.jsonl")
wait_for_steps "$out/metrics.jsonl" $((lines + 3)) || fail "second run: no progress"
kill -INT $pid
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] && pass "two SIGINTs: exit 130" || fail "two SIGINTs: exit $rc: $(tail -2 "$tmp/twice.err")"
"$apps/vdm_eval" --ckpt "$out/checkpoint.safetensors" --data "$data" --n 4 >/dev/null 2>"$tmp/eval.err" \
    && pass "the checkpoint left by two signals loads" || fail "checkpoint after two signals: $(tail -1 "$tmp/eval.err")"
exit $status
