#!/usr/bin/env bash
# Crash consistency of train_mnist's checkpoints.
#  - SIGKILL (VDM_KILL_TRIALS trials, default 10; the issue's figure is from 100), with
#    a checkpoint written every step: odd trials at a random moment, even ones as soon
#    as a checkpoint's temp file appears after a random step, i.e. inside a write. The
#    checkpoint on disk always loads, --resume finishes the run, and the final
#    checkpoint is byte-identical to an uninterrupted run's.
#  - A write that fails (file-size limit; a full tmpfs where mounting one is allowed)
#    is one line of error, and the previous checkpoint still loads.
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh

trials=${VDM_KILL_TRIALS:-10}
steps=10
tiny=(--data "$data" --channels 32 --blocks 1 --attention off --batch 2 --warmup 2 --eval-every 1
      --log-every 1 --val-n 1 --sample-n 0 --seed 3 --threads 1 --steps $steps)

start=$(date +%s%N)
"$apps/train_mnist" "${tiny[@]}" --out "$tmp/reference" >/dev/null 2>&1 || fail "the uninterrupted run failed"
duration_ms=$((($(date +%s%N) - start) / 1000000))
reference=$tmp/reference/checkpoint.safetensors

identical=0 in_write=0 before_first=0
for trial in $(seq "$trials"); do
    run=$tmp/run
    rm -rf "$run"
    "$apps/train_mnist" "${tiny[@]}" --out "$run" >/dev/null 2>&1 &
    pid=$!
    if [ $((trial % 2)) -eq 1 ]; then
        sleep "$(awk -v r=$RANDOM -v ms=$duration_ms 'BEGIN { printf "%.3f", r / 32768 * ms / 1000 }')"
    else
        after=$((RANDOM % (steps - 1) + 1))  # metrics lines: a step's, then its evaluation's
        until [ "$(cat "$run/metrics.jsonl" 2>/dev/null | wc -l)" -ge $((2 * after)) ] || ! kill -0 $pid 2>/dev/null; do
            sleep 0.005
        done
        until [ -e "$run/checkpoint.safetensors.tmp" ] || ! kill -0 $pid 2>/dev/null; do :; done
    fi
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ -e "$run/checkpoint.safetensors.tmp" ] && in_write=$((in_write + 1))
    if [ ! -e "$run/checkpoint.safetensors" ]; then  # killed before the first save: start over
        before_first=$((before_first + 1))
        "$apps/train_mnist" "${tiny[@]}" --out "$run" >/dev/null 2>"$tmp/err"
    elif ! cmp -s "$run/checkpoint.safetensors" "$reference"; then  # not already finished
        "$apps/train_mnist" --resume "$run/checkpoint.safetensors" --data "$data" --steps $steps --out "$run" \
            --eval-every 1 --log-every 1 --val-n 1 --sample-n 0 --threads 1 >/dev/null 2>"$tmp/err" \
            || { fail "trial $trial: resume failed: $(tail -1 "$tmp/err")"; continue; }
    fi
    cmp -s "$run/checkpoint.safetensors" "$reference" && identical=$((identical + 1)) \
        || fail "trial $trial: the final checkpoint differs from the uninterrupted run's"
done
[ "$identical" -eq "$trials" ] \
    && pass "$identical/$trials SIGKILL trials recovered byte-identically ($in_write inside a checkpoint write, $before_first before the first; run ${duration_ms} ms)" \
    || fail "$identical/$trials SIGKILL trials recovered byte-identically"

# A checkpoint write over the file-size limit: one line, the old checkpoint intact.
good=$tmp/good
"$apps/train_mnist" "${tiny[@]}" --steps 2 --out "$good" >/dev/null 2>&1
cp "$good/checkpoint.safetensors" "$tmp/before.safetensors"
size_kb=$(($(stat -c %s "$good/checkpoint.safetensors") / 1024))
err=$( (ulimit -f $((size_kb / 2)); "$apps/train_mnist" --resume "$good/checkpoint.safetensors" --data "$data" \
    --steps 3 --out "$good" --val-n 1 --sample-n 0 --threads 1 2>&1 >/dev/null) | tail -1)
rc=${PIPESTATUS[0]}
if [[ $err == "error: $good/checkpoint.safetensors: cannot write "* ]] && cmp -s "$good/checkpoint.safetensors" "$tmp/before.safetensors"; then
    pass "a write over ulimit -f: $err; the old checkpoint is untouched"
else
    fail "a write over ulimit -f: $err"
fi
[ ! -e "$good/checkpoint.safetensors.tmp" ] || fail "the failed write left its temp file"

# A full disk, where this machine lets us mount a small tmpfs.
disk=$tmp/disk
mkdir -p "$disk"
if mount -t tmpfs -o size=$((size_kb * 3 / 2))k tmpfs "$disk" 2>/dev/null; then
    cp "$tmp/before.safetensors" "$disk/checkpoint.safetensors"
    err=$("$apps/train_mnist" --resume "$disk/checkpoint.safetensors" --data "$data" --steps 3 --out "$disk" \
        --val-n 1 --sample-n 0 --threads 1 2>&1 >/dev/null | tail -1)
    if [[ $err == *"checkpoint.safetensors: cannot "*"No space left on device"* ]] \
        && cmp -s "$disk/checkpoint.safetensors" "$tmp/before.safetensors"; then
        pass "a full disk: $err; the old checkpoint is untouched"
    else
        fail "a full disk: $err"
    fi
    umount "$disk"
else
    echo "skip: cannot mount a tmpfs here (the full-disk case)"
fi
exit $status
