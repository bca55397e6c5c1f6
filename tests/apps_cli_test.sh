#!/usr/bin/env bash
# The apps from the command line, on a tiny synthetic IDX dataset made here:
#  - --help works, train_mnist's grouped under headings; bad flags, a missing data
#    folder, a checkpoint of another config, a truncated or missing checkpoint, a run
#    folder without one each give one line on stderr and exit 1;
#  - train_mnist writes checkpoint, metrics.jsonl and a PNG, and ends with JSON;
#  - --ckpt takes a run folder (its checkpoint.safetensors) as well as the file;
#  - training, evaluation and sampling are deterministic for a seed, and --resume
#    from a checkpoint reproduces the uninterrupted run's metrics exactly;
#  - --device cuda without a usable GPU is one line "error: cuda: <why>", given before
#    any data or checkpoint is read; with a GPU, checkpoints cross devices both ways.
set -u
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh  # $apps, $tmp, $data, fail, pass, expect_error, $status

# --- flags, every app
for app in train_mnist vdm_eval vdm_sample vdm_plots train_baseline; do
    "$apps/$app" --help | grep -q -- '--seed' || fail "$app --help lists no --seed"
    expect_error "$app" "unknown flag" --stepz 10
    expect_error "$app" "not an integer" --seed abc
    expect_error "$app" "missing value" --seed
done
# --help groups the flags under headings, in order
help=$("$apps/train_mnist" --help)
prev=0
for heading in data model 'schedule and loss' optimization output device; do
    line=$(grep -nx -- "$heading:" <<<"$help" | head -1 | cut -d: -f1)
    if [ -z "$line" ]; then fail "train_mnist --help has no '$heading:' heading"
    elif [ "$line" -le "$prev" ]; then fail "train_mnist --help: '$heading:' is out of order"
    else prev=$line; fi
done
[ "$prev" -gt 0 ] && pass "train_mnist --help groups its flags"
expect_error train_mnist "does not exist" --data /nonexistent/vdm-data
expect_error train_mnist "not one of" --dataset cifar
expect_error train_mnist "not one of" --schedule cosine
expect_error train_mnist "not one of" --loss sometimes
expect_error train_mnist "not one of" --attention maybe
expect_error train_mnist "outside" --lr -1
expect_error train_mnist "outside" --T 0
expect_error train_mnist "outside [0, 0.9]" --dropout -0.1
expect_error train_mnist "must exceed" --gamma-min 3 --gamma-max 2
expect_error train_mnist "multiple of" --channels 12
expect_error vdm_eval "--ckpt is required"
expect_error vdm_eval "not one of" --split train --ckpt x
expect_error vdm_eval "cannot open" --ckpt "$tmp/none.safetensors"
expect_error vdm_sample "--out is required" --ckpt x
expect_error train_baseline "--model is required" --data "$data"
expect_error train_baseline "not one of" --model gan

# --- bench_vdm: a switch takes no value; --profile prints the per-op table
bench=${VDM_BENCH:-$apps/bench_vdm}  # bench_vdm lives in the build folder
if [ -x "$bench" ]; then
    apps=$(dirname "$bench") expect_error bench_vdm "--profile takes no value" --profile=on
    "$bench" --profile --steps 1 --batch 2 --channels 8 --blocks 0 >"$tmp/prof.out" 2>"$tmp/prof.err" \
        || fail "bench_vdm --profile: $(tail -1 "$tmp/prof.err")"
    for row in '| conv forward |' '| conv backward-weight |' '| attention |' 'GEMM 1024'; do
        grep -qF -- "$row" "$tmp/prof.out" || fail "bench_vdm --profile printed no '$row' line"
    done
    [[ $(tail -1 "$tmp/prof.out") == *'"profile": {'* ]] || fail "bench_vdm --profile: no profile in the JSON line"
else
    echo "skip: no $bench to check (make builds it as \$(BUILD)/bench_vdm; set VDM_BENCH)"
fi

# --- --device: a GPU is usable when train_mnist gets past the device check to the data
for app in train_mnist vdm_eval vdm_sample; do
    "$apps/$app" --help | grep -q -- '--device' || fail "$app --help lists no --device"
done
expect_error train_mnist "not one of" --device tpu
expect_error train_mnist "--precision tf32 needs --device cuda" --precision tf32 --data /nonexistent/vdm-data
expect_error train_mnist "not one of" --precision bf16
device_check=$("$apps/train_mnist" --device cuda --data /nonexistent/vdm-data 2>&1 >/dev/null)
if [[ $device_check == "error: cuda: "* ]]; then
    gpu=0
    expect_error train_mnist "error: cuda: " --device cuda --data /nonexistent/vdm-data
    expect_error vdm_eval "error: cuda: " --device cuda --ckpt /nonexistent/c.safetensors
    expect_error vdm_sample "error: cuda: " --device cuda --ckpt /nonexistent/c.safetensors --out "$tmp/x.png"
    [ -x "$bench" ] && apps=$(dirname "$bench") expect_error bench_vdm "error: cuda: " --device cuda
else
    gpu=1
    [[ $device_check == *"does not exist"* ]] || fail "train_mnist --device cuda: $device_check"
    echo "skip: --device cuda errors (a GPU is usable here)"
fi

# --- train, deterministically, and resume
tiny=(--data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 --eval-every 3
      --log-every 1 --val-n 4 --sample-n 4 --sample-steps 3 --seed 3)
"$apps/train_mnist" "${tiny[@]}" --steps 6 --out "$tmp/a" >"$tmp/a.json" 2>"$tmp/a.err" || fail "train_mnist: $(tail -1 "$tmp/a.err")"
last=$(tail -1 "$tmp/a.json")
for key in '"step": 6' train_bpd prior recon diffusion val_bpd checkpoint '"device": "cpu"'; do
    [[ $last == *"$key"* ]] || fail "train_mnist's last line lacks $key: $last"
done
[ -s "$tmp/a/checkpoint.safetensors" ] && [ ! -e "$tmp/a/checkpoint.safetensors.tmp" ] || fail "no checkpoint"
[ "$(od -An -tx1 -N8 "$tmp/a/samples.png" | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "samples.png is not a PNG"
[ "$(grep -c train_bpd "$tmp/a/metrics.jsonl")" -eq 6 ] || fail "metrics.jsonl: expected 6 step lines"
"$apps/train_mnist" "${tiny[@]}" --steps 6 --out "$tmp/b" >/dev/null 2>&1
cmp -s "$tmp/a/metrics.jsonl" "$tmp/b/metrics.jsonl" && pass "same seed, same metrics" || fail "two runs with one seed differ"
"$apps/train_mnist" "${tiny[@]}" --steps 3 --out "$tmp/c" >/dev/null 2>&1
"$apps/train_mnist" --resume "$tmp/c/checkpoint.safetensors" --data "$data" --steps 6 --out "$tmp/c" \
    --eval-every 3 --log-every 1 --val-n 4 --sample-n 0 >/dev/null 2>"$tmp/c.err" || fail "resume: $(tail -1 "$tmp/c.err")"
cmp -s "$tmp/a/metrics.jsonl" "$tmp/c/metrics.jsonl" && pass "resumed run matches the uninterrupted one" \
    || fail "resumed metrics differ: $(diff "$tmp/a/metrics.jsonl" "$tmp/c/metrics.jsonl" | head -4)"
cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/c/checkpoint.safetensors" && pass "resumed checkpoint is bit-identical" \
    || fail "resumed checkpoint differs"

# --- evaluate and sample, twice each
ckpt=$tmp/a/checkpoint.safetensors
e1=$("$apps/vdm_eval" --ckpt "$ckpt" --data "$data" 2>/dev/null | tail -1)
e2=$("$apps/vdm_eval" --ckpt "$ckpt" --data "$data" 2>/dev/null | tail -1)
[[ $e1 == *'"n": 12'* && $e1 == *bpd_stderr* && $e1 == *diffusion* ]] || fail "vdm_eval: $e1"
[ "$e1" = "$e2" ] && pass "vdm_eval is deterministic" || fail "vdm_eval differs: $e1 / $e2"
"$apps/vdm_sample" --ckpt "$ckpt" --n 3 --steps 4 --out "$tmp/s1.png" >/dev/null 2>&1
"$apps/vdm_sample" --ckpt "$ckpt" --n 3 --steps 4 --out "$tmp/s2.png" >/dev/null 2>&1
cmp -s "$tmp/s1.png" "$tmp/s2.png" && pass "vdm_sample is deterministic" || fail "vdm_sample differs"

# --- --ckpt takes the run folder too: <dir>/checkpoint.safetensors
e3=$("$apps/vdm_eval" --ckpt "$tmp/a" --data "$data" 2>/dev/null | tail -1)
[ "$e1" = "$e3" ] && pass "vdm_eval --ckpt <run folder> matches the file" || fail "vdm_eval --ckpt <run folder>: $e3 / $e1"
"$apps/vdm_sample" --ckpt "$tmp/a/" --n 3 --steps 4 --out "$tmp/s3.png" >/dev/null 2>"$tmp/s3.err" \
    || fail "vdm_sample --ckpt <run folder>: $(tail -1 "$tmp/s3.err")"
cmp -s "$tmp/s1.png" "$tmp/s3.png" && pass "vdm_sample --ckpt <run folder> matches the file" \
    || fail "vdm_sample --ckpt <run folder> differs"
mkdir -p "$tmp/empty_run"
expect_error vdm_eval "no checkpoint in $tmp/empty_run (looked for $tmp/empty_run/checkpoint.safetensors)" \
    --ckpt "$tmp/empty_run" --data "$data"
expect_error vdm_sample "no checkpoint in $tmp/empty_run" --ckpt "$tmp/empty_run" --out "$tmp/x.png"

# --- figures: schedules of two checkpoints and where the bits come from
expect_error vdm_plots "--ckpt is required"
[ "$gpu" = 0 ] && expect_error vdm_plots "error: cuda: " --device cuda --ckpt /nonexistent/c.safetensors
expect_error vdm_plots "exceeds the 12 test images" --ckpt "$ckpt" --data "$data" --n 13
"$apps/vdm_plots" --ckpt "$ckpt" --ckpt2 "$tmp/a" --data "$data" --n 3 --grid 4 --out "$tmp/fig1" \
    >"$tmp/p1.json" 2>"$tmp/p1.err" || fail "vdm_plots: $(tail -1 "$tmp/p1.err")"
"$apps/vdm_plots" --ckpt "$ckpt" --data "$data" --n 3 --grid 4 --out "$tmp/fig2" >/dev/null 2>&1
for f in schedule_gamma schedule_snr bits; do
    [ "$(head -c 4 "$tmp/fig1/$f.svg")" = "<svg" ] && [ "$(tail -n 1 "$tmp/fig1/$f.svg")" = "</svg>" ] \
        || fail "vdm_plots: $f.svg is not an SVG document"
done
[ "$(grep -c '<polyline' "$tmp/fig1/schedule_gamma.svg")" -eq 2 ] || fail "vdm_plots: --ckpt2 drew no second schedule"
cmp -s "$tmp/fig1/bits.svg" "$tmp/fig2/bits.svg" && pass "vdm_plots is deterministic" || fail "vdm_plots: bits.svg differs"
[[ $(tail -1 "$tmp/p1.json") == *'"diffusion_bpd": '*'"n": 3, "grid": 4'* ]] || fail "vdm_plots JSON: $(tail -1 "$tmp/p1.json")"

# --- with a GPU: a GPU checkpoint resumes and evaluates on the CPU, and the reverse
if [ "$gpu" = 1 ]; then
    "$apps/train_mnist" "${tiny[@]}" --steps 3 --out "$tmp/g" --device cuda >"$tmp/g.json" 2>"$tmp/g.err" \
        || fail "train_mnist --device cuda: $(tail -1 "$tmp/g.err")"
    [[ $(tail -1 "$tmp/g.json") == *'"device": "cuda", "peak_device_mib": '* ]] || fail "cuda run's JSON: $(tail -1 "$tmp/g.json")"
    cp -r "$tmp/g" "$tmp/g_cpu"
    "$apps/train_mnist" --resume "$tmp/g_cpu/checkpoint.safetensors" --data "$data" --steps 6 --out "$tmp/g_cpu" \
        --sample-n 0 >/dev/null 2>"$tmp/g_cpu.err" && pass "a GPU checkpoint resumes on the CPU" \
        || fail "GPU checkpoint on the CPU: $(tail -1 "$tmp/g_cpu.err")"
    "$apps/train_mnist" "${tiny[@]}" --steps 3 --out "$tmp/h" >/dev/null 2>&1
    "$apps/train_mnist" --resume "$tmp/h/checkpoint.safetensors" --data "$data" --steps 6 --out "$tmp/h" \
        --sample-n 0 --device cuda >/dev/null 2>"$tmp/h.err" && pass "a CPU checkpoint resumes on the GPU" \
        || fail "CPU checkpoint on the GPU: $(tail -1 "$tmp/h.err")"
    g1=$("$apps/vdm_eval" --ckpt "$ckpt" --data "$data" --device cuda 2>/dev/null | tail -1)
    bpd() { sed -E 's/.*"bpd": ([-0-9.e+]+).*/\1/' <<<"$1"; }
    awk -v a="$(bpd "$e1")" -v b="$(bpd "$g1")" 'BEGIN { d = a - b; exit !(d * d <= (1e-3 * a) ^ 2) }' \
        && pass "vdm_eval: the same bpd on both devices ($(bpd "$e1"), $(bpd "$g1"))" \
        || fail "vdm_eval on the GPU: $g1, on the CPU: $e1"
    "$apps/vdm_sample" --ckpt "$ckpt" --n 3 --steps 4 --out "$tmp/sg.png" --device cuda >/dev/null 2>"$tmp/sg.err" \
        && pass "vdm_sample --device cuda" || fail "vdm_sample --device cuda: $(tail -1 "$tmp/sg.err")"
fi

# --- bad checkpoints
expect_error train_mnist "differs from the checkpoint" --resume "$ckpt" --data "$data" --channels 16 --steps 9
expect_error train_mnist "must exceed the checkpoint" --resume "$ckpt" --data "$data" --steps 6
head -c 5000 "$ckpt" >"$tmp/cut_header.safetensors"
expect_error vdm_eval "runs past the end" --ckpt "$tmp/cut_header.safetensors" --data "$data"
head -c $(($(wc -c <"$ckpt") - 100)) "$ckpt" >"$tmp/cut_data.safetensors"
expect_error vdm_eval "truncated (" --ckpt "$tmp/cut_data.safetensors" --data "$data"
expect_error vdm_sample "truncated (" --ckpt "$tmp/cut_data.safetensors" --out "$tmp/x.png"
expect_error train_mnist "truncated (" --resume "$tmp/cut_data.safetensors" --data "$data"
printf 'not a checkpoint at all' >"$tmp/garbage.safetensors"
expect_error vdm_eval "garbage.safetensors" --ckpt "$tmp/garbage.safetensors"
exit $status
