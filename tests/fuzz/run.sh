#!/usr/bin/env bash
# Runs each libFuzzer target (`make fuzz` builds them) for SECONDS on a seed corpus made
# here from valid files and their mutations (never committed), and reports executions
# and coverage. A finding (crash, sanitizer report, leak, timeout) fails the run and
# leaves its input in $VDM_FUZZ_ARTIFACTS (default: runs/fuzz-findings).
#   bash tests/fuzz/run.sh [SECONDS]        (default 30; CI runs 30)
# Needs the apps built (train_mnist writes the safetensors seed): make && make fuzz.
cd "$(dirname "$0")/../.."
source tests/cli_helpers.sh
seconds=${1:-30}
fuzzers=${VDM_FUZZ_DIR:-build/fuzz-clang}
artifacts=${VDM_FUZZ_ARTIFACTS:-runs/fuzz-findings}
mkdir -p "$artifacts"

# --- seeds: valid files, then mutations of them
corpus=$tmp/corpus
mkdir -p "$corpus"/{idx,safetensors,png,flags,vdmz}
images=$data/t10k-images-idx3-ubyte labels=$data/t10k-labels-idx1-ubyte
for f in "$images" "$labels"; do
    base=$(basename "$f")
    cp "$f" "$corpus/idx/$base"
    gzip -c "$f" >"$corpus/idx/$base.gz"
    head -c 100 "$f" >"$corpus/idx/$base.cut"                   # truncated
    { printf '\x00\x00\x09\x03'; tail -c +5 "$f"; } >"$corpus/idx/$base.type"  # another element type
    head -c 30 "$corpus/idx/$base.gz" >"$corpus/idx/$base.gz.cut"
done
for f in "$corpus"/idx/*; do { printf '\x03'; cat "$f"; } >"$corpus/png/$(basename "$f")"; done
"$apps/train_mnist" --data "$data" --channels 8 --blocks 1 --attention off --batch 2 --steps 1 --eval-every 0 \
    --val-n 2 --sample-n 0 --threads 1 --out "$tmp/run" >/dev/null 2>&1 || { fail "no checkpoint for the seed"; exit 1; }
ckpt=$tmp/run/checkpoint.safetensors
cp "$ckpt" "$corpus/safetensors/valid"
head -c 2000 "$ckpt" >"$corpus/safetensors/cut"
{ head -c 8 "$ckpt"; printf '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; } >"$corpus/safetensors/header"
"$apps/vdm_compress" --ckpt "$ckpt" --in "$images" --n 2 --T 2 --out "$corpus/vdmz/valid" >/dev/null 2>&1 ||
    { fail "no .vdmz file for the seed"; exit 1; }
head -c 150 "$corpus/vdmz/valid" >"$corpus/vdmz/cut"
{ head -c 40 "$corpus/vdmz/valid"; printf '\xff'; tail -c +42 "$corpus/vdmz/valid"; } >"$corpus/vdmz/flipped"
printf -- '--count\n5\n--rate\n0.3\n--choice\nb\n--on\n--text\nhello' >"$corpus/flags/all"
printf -- '--count=7\n--rate=1\n--choice=a' >"$corpus/flags/equals"
printf -- '--help' >"$corpus/flags/help"

# --- run each target
for target in idx safetensors png flags vdmz; do
    bin=$fuzzers/fuzz_$target
    [ -x "$bin" ] || { fail "$bin is missing (make fuzz)"; continue; }
    log=$tmp/$target.log
    if "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$artifacts/$target-" \
        -print_final_stats=1 "$corpus/$target" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
        pass "fuzz_$target: ${seconds}s, $runs executions, $cov, no finding"
    else
        fail "fuzz_$target found something: $(grep -m1 -E 'ERROR|SUMMARY|deadly' "$log"); input in $artifacts"
        tail -20 "$log"
    fi
done
exit $status
