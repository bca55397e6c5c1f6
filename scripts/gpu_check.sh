#!/usr/bin/env bash
# The one-command GPU check of the CUDA backend (issue 7): build, CUDA tests,
# compute-sanitizer, timings, a 2000-step training run and its test bpd, determinism.
# Run it from the repo root on a machine with an NVIDIA GPU, its driver and the CUDA
# toolkit (nvcc; compute-sanitizer on PATH, in /usr/local/cuda/bin or under
# /opt/nvidia). Nothing else is needed, and no internet:
#
#     mkdir -p data/mnist && cp /path/to/mnist/*-ubyte.gz data/mnist/
#     OUT=/path/for/logs bash scripts/gpu_check.sh
#
# Headers: the build needs zlib's and doctest's headers (zlib1g-dev, doctest-dev). A
# machine without them (and without a way to install them) gets them from a folder
# .deps/ that the Makefile picks up, made on a machine that has them:
#     mkdir -p .deps/include .deps/lib && cp -r /usr/include/doctest /usr/include/zlib.h \
#         /usr/include/zconf.h .deps/include/ && cp /usr/lib/x86_64-linux-gnu/libz.a .deps/lib/
# and carried along with the repo (git ignores .deps/ and data/).
#
# MNIST: BEFORE RUNNING, copy the four files train-images-idx3-ubyte.gz,
# train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
# into ./data/mnist (or into $VDM_DATA/mnist). Without them the stages that train,
# evaluate or sanitize training steps are skipped, each with a line saying so.
#
# Logs go to $OUT when it is set, else to a new temp folder named at the start;
# checkpoints go to a scratch folder that is removed at the end. The last lines
# printed are a markdown table (stage, result, figures) and one JSON line with every
# figure; both are also saved as summary.md and summary.json beside the logs.
#
# Stages and their time limits in seconds. Every stage also stops at a deadline
# GPU_CHECK_BUDGET seconds after the start (default 465), so the script ends within
# 8 minutes on one H100 even if something hangs; a stage left without time is
# reported as skipped.
#   phase 1, one at a time (the timings need the GPU to themselves)
#     gpu            nvidia-smi -L, nvcc --version                                  20
#     build          make -j CUDA=1: the apps, run_tests and bench_vdm             240
#     cuda tests     build/release-cuda/run_tests -tc='cuda*'                      150
#     timing         bench_vdm --device cuda --steps 20: the default config         60
#                    (batch 64) and a wide one (--channels 128 --blocks 8           90
#                    --attention on --batch 128)
#   phase 2, four lanes side by side (nothing in them is timed)
#     training       train_mnist --device cuda --steps 2000 (default config)       200
#                    vdm_eval --device cuda on the 10000 test images                60
#                    vdm_eval --n 500, --device cuda then cpu (same checkpoint     45, 90
#                    and seed): the bpd must agree within 1e-3
#     determinism    train_mnist 30 steps twice: identical metrics.jsonl; 60      4 x 60
#                    steps vs those 30 + --resume to 60: identical checkpoints
#     memcheck       compute-sanitizer --tool memcheck over the parity tests      150
#                    (run_tests -tc='cuda parity*'), then over 20 training steps  120
#                    of a tiny config (8 channels, 1 block, batch 16)
#     racecheck      the same with --tool racecheck                         150, 120
#                    Racecheck skips cuBLAS's own gemm kernels (names containing
#                    "gemm"): it checks shared memory, and ours are what is under
#                    test. Memcheck covers every kernel, cuBLAS's included, since a
#                    wrong stride or leading dimension of ours shows up there.
#
# Exit status: 0 every stage passed; 1 a stage failed; 2 no GPU; 3 nothing failed
# but some stage was skipped (no MNIST, no compute-sanitizer, out of time).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# Paths below assume the default release build (build/release-cuda, apps at the root).
unset BUILD_DIR DEBUG SANITIZE

BUDGET=${GPU_CHECK_BUDGET:-465}
T0=$(date +%s)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_scratch.XXXXXX") || exit 1
trap 'rm -rf "$SCRATCH"' EXIT
# With $OUT set, the logs are written in the scratch folder and, at the end, $OUT gets
# five files: summary.md, summary.json, gpu_check_logs.tar.gz (every log), and the
# training run's metrics.jsonl and samples.png (few files, so a copier that takes
# only some of a folder still gets all of them).
if [ -n "${OUT:-}" ]; then LOG_DIR=$SCRATCH/logs; else LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX"); fi
mkdir -p "$LOG_DIR" || exit 1
LOG_DIR=$(cd "$LOG_DIR" && pwd)
RES=$LOG_DIR/results  # one file per stage result and per figure, written by any lane
rm -rf "$RES" && mkdir -p "$RES"

RUNNER=build/release-cuda/run_tests
BENCH=build/release-cuda/bench_vdm

# --- helpers

elapsed() { echo $(($(date +%s) - T0)); }
say() { printf '[%4ss] %s\n' "$(elapsed)" "$*"; }

# The seconds a stage may run: its own limit, or what is left before the deadline
# (10 s are kept for the summary).
stage_limit() {
    local left=$((BUDGET - 10 - $(elapsed)))
    if ((left < $1)); then echo "$left"; else echo "$1"; fi
}

# limited CAP LOG CMD...: runs CMD, its output appended to LOG, for at most
# min(CAP, time left) seconds. Returns CMD's status: 124 or 137 when the limit
# stopped it, 254 when no time was left to start it.
limited() {
    local cap=$1 log=$2 t
    shift 2
    t=$(stage_limit "$cap")
    if ((t < 5)); then
        echo "not started: the ${BUDGET} s budget is spent" >>"$log"
        return 254
    fi
    echo "\$ $* (limit ${t} s)" >>"$log"
    timeout -k 5 "$t" "$@" >>"$log" 2>&1
}

# How an exit status reads in the table.
status_text() {
    case $1 in
        0) echo ok ;;
        124 | 137) echo "FAIL: timed out" ;;
        254) echo "skipped: out of time" ;;
        *) echo "FAIL: exit status $1" ;;
    esac
}

# The status of a failed stage: its exit status's text, or `what` when it exited 0
# but its output was wrong.
failure() {
    if (($1 == 0)); then echo "$2"; else status_text "$1"; fi
}

# result STAGE STATUS [FIGURES]: STATUS starts with ok, FAIL, skipped or "no GPU".
result() {
    printf '%s\t%s\n' "$2" "${3:-}" >"$RES/$1.result"
    say "$1: $2${3:+ | $3}"
}

# figure KEY VALUE: one JSON value for the last line.
figure() { printf '%s\n' "$2" >"$RES/$1.figure"; }
# A number as JSON, or null.
number() {
    if [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then echo "$1"; else echo null; fi
}
# A JSON string.
quoted() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n')"; }

# json_field FILE KEY: the value of "KEY" on the last line of FILE that has it.
json_field() {
    grep -o "\"$2\": *[^,}]*" "$1" 2>/dev/null | tail -n 1 | sed 's/^[^:]*: *//; s/^"//; s/"$//'
}

# doctest's summary counts in a log: "passed failed" (empty when there is none).
doctest_counts() {
    local line
    line=$(grep '^\[doctest\] test cases:' "$1" 2>/dev/null | tail -n 1)
    [ -n "$line" ] || return 0
    echo "$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line") $(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")"
}

# |a - b| with awk (no other tools needed).
abs_diff() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.6f", d }'; }

find_sanitizer() {
    local c
    c=$(command -v compute-sanitizer 2>/dev/null) && { echo "$c"; return; }
    for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer \
        /usr/local/cuda-*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer \
        /opt/nvidia/*/*/compute-sanitizer /opt/nvidia/*/*/*/compute-sanitizer; do
        [ -x "$c" ] && [ -f "$c" ] && { echo "$c"; return; }
    done
    timeout 10 find /opt/nvidia -maxdepth 6 -name compute-sanitizer -type f -perm -u+x 2>/dev/null | head -n 1
}

# The MNIST folder: ./data/mnist, else $VDM_DATA/mnist, if it holds all four files.
find_mnist() {
    local d f ok
    for d in ./data/mnist ${VDM_DATA:+"$VDM_DATA/mnist"}; do
        ok=1
        for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
            [ -f "$d/$f.gz" ] || [ -f "$d/$f" ] || ok=0
        done
        if ((ok)); then (cd "$d" && pwd); return; fi
    done
}

STAGES=(gpu build cuda_tests bench_default bench_wide train eval_test eval_cpu_vs_cuda
        det_same_seed det_resume memcheck_parity racecheck_parity memcheck_train racecheck_train)
stage_label() {
    case $1 in
        gpu) echo "GPU" ;;
        build) echo "build (CUDA=1)" ;;
        cuda_tests) echo "CUDA tests (run_tests -tc='cuda*')" ;;
        bench_default) echo "timing: default config, batch 64" ;;
        bench_wide) echo "timing: wide (128 ch, 8 blocks, attention, batch 128)" ;;
        train) echo "train_mnist 2000 steps (default config)" ;;
        eval_test) echo "vdm_eval: 10000 test images" ;;
        eval_cpu_vs_cuda) echo "vdm_eval --n 500: cpu vs cuda" ;;
        det_same_seed) echo "determinism: same seed twice (metrics.jsonl)" ;;
        det_resume) echo "determinism: 60 steps vs 30 + resume (checkpoint)" ;;
        memcheck_parity) echo "memcheck: parity tests" ;;
        racecheck_parity) echo "racecheck: parity tests" ;;
        memcheck_train) echo "memcheck: 20 training steps" ;;
        racecheck_train) echo "racecheck: 20 training steps" ;;
    esac
}

# The table and the JSON line, last; the exit status from the stages' results.
summarize() {
    local s line status figures n_ok=0 n_fail=0 n_skip=0 table json key value
    table="| stage | result | figures |"$'\n'"|---|---|---|"
    for s in "${STAGES[@]}"; do
        if [ -f "$RES/$s.result" ]; then
            line=$(cat "$RES/$s.result")
            status=${line%%$'\t'*}
            figures=${line#*$'\t'}
        else
            status="skipped: not run"
            figures=""
        fi
        case $status in
            ok*) n_ok=$((n_ok + 1)) ;;
            FAIL*) n_fail=$((n_fail + 1)) ;;
            *) n_skip=$((n_skip + 1)) ;;
        esac
        table+=$'\n'"| $(stage_label "$s") | $status | $figures |"
    done
    json="{\"gpu\": $(quoted "${GPU_NAME:-none}"), \"elapsed_s\": $(elapsed), \"budget_s\": $BUDGET"
    json+=", \"stages_ok\": $n_ok, \"stages_failed\": $n_fail, \"stages_skipped\": $n_skip"
    for key in cuda_tests_passed cuda_tests_failed \
        memcheck_parity_errors racecheck_parity_hazards memcheck_train_errors racecheck_train_hazards \
        default_ms_per_step default_images_per_s default_peak_mib default_mallocs_in_timed_steps \
        wide_ms_per_step wide_images_per_s wide_peak_mib wide_mallocs_in_timed_steps \
        train_seconds train_val_bpd train_peak_mib train_device_mallocs \
        test_bpd_2000 test_bpd_stderr eval500_cuda_bpd eval500_cpu_bpd cpu_cuda_bpd_diff \
        determinism_same_seed determinism_resume; do
        value=null
        [ -f "$RES/$key.figure" ] && value=$(cat "$RES/$key.figure")
        json+=", \"$key\": $value"
    done
    json+="}"
    printf '%s\n' "$table" >"$LOG_DIR/summary.md"
    printf '%s\n' "$json" >"$LOG_DIR/summary.json"
    echo
    if [ -n "${OUT:-}" ]; then echo "logs: $OUT/gpu_check_logs.tar.gz"; else echo "logs: $LOG_DIR"; fi
    echo
    printf '%s\n' "$table"
    printf '%s\n' "$json"
    if [ -z "${GPU_NAME:-}" ]; then return 2; fi
    if ((n_fail > 0)); then return 1; fi
    if ((n_skip > 0)); then return 3; fi
    return 0
}

# The table and JSON line, the files for $OUT, and the exit status.
finish() {
    summarize
    local status=$?
    if [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT"
        cp "$LOG_DIR/summary.md" "$LOG_DIR/summary.json" "$OUT/" 2>/dev/null
        cp "$LOG_DIR/train_run/metrics.jsonl" "$LOG_DIR/train_run/samples.png" "$OUT/" 2>/dev/null
        tar czf "$OUT/gpu_check_logs.tar.gz" -C "$LOG_DIR" .
    fi
    exit $status
}

say "gpu_check: logs in $LOG_DIR, budget ${BUDGET} s"

# --- phase 1: gpu
GPU_NAME=""
gpu_log=$LOG_DIR/01_gpu.log
if command -v nvidia-smi >/dev/null 2>&1 && timeout 20 nvidia-smi -L >"$gpu_log" 2>&1 &&
    grep -q '^GPU ' "$gpu_log"; then
    GPU_NAME=$(grep -m 1 '^GPU ' "$gpu_log" | sed 's/^GPU [0-9]*: *//; s/ *(UUID.*//')
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_mode \
        --format=csv >>"$gpu_log" 2>&1
    NVCC=$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
    timeout 20 "$NVCC" --version >>"$gpu_log" 2>&1
    nvcc_release=$(sed -n 's/.*release \([0-9.]*\).*/\1/p' "$gpu_log" | head -n 1)
    result gpu ok "$GPU_NAME; driver $(timeout 10 nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1); nvcc ${nvcc_release:-not found}"
else
    echo "no GPU: nvidia-smi is missing or lists no GPU" >>"$gpu_log"
    result gpu "no GPU" "nvidia-smi is missing or lists no GPU (see $gpu_log)"
    for s in "${STAGES[@]:1}"; do printf 'no GPU\t\n' >"$RES/$s.result"; done
    finish
fi

# --- phase 1: build. The apps at the repo root are shared with a CPU-only build of
# the same names, so they are removed first and always relinked from this build.
build_log=$LOG_DIR/02_build.log
DEPS_INCLUDE=()
[ -d .deps/include ] && DEPS_INCLUDE=(-isystem .deps/include)
for app in apps/*.cpp; do
    name=${app##*/}
    rm -f "./${name%.cpp}"
done
start=$(elapsed)
# Warnings are CI's job (-Werror there); here a newer compiler's new warning must not
# stop the check.
for header in zlib.h doctest/doctest.h; do
    printf '#include <%s>\n' "$header" | g++ -E -x c++ ${DEPS_INCLUDE[@]+"${DEPS_INCLUDE[@]}"} - \
        >/dev/null 2>&1 || say "missing header <$header>: the build will fail (see the script's header: .deps/)"
done
limited 240 "$build_log" make -j"$(nproc 2>/dev/null || echo 16)" CUDA=1 all "$RUNNER" "$BENCH"
rc=$?
if ((rc == 0)); then
    result build ok "$(($(elapsed) - start)) s"
else
    result build "$(status_text $rc)" "see $build_log: $(grep -m 1 -E 'error:|Error [0-9]' "$build_log" | cut -c 1-120)"
    for s in "${STAGES[@]:2}"; do result "$s" "skipped: build failed" ""; done
    finish
fi

# --- phase 1: the CUDA tests
tests_log=$LOG_DIR/03_cuda_tests.log
start=$(elapsed)
limited 150 "$tests_log" "$RUNNER" -tc='cuda*' --duration=true
rc=$?
read -r passed failed <<<"$(doctest_counts "$tests_log")"
figure cuda_tests_passed "$(number "${passed:-}")"
figure cuda_tests_failed "$(number "${failed:-}")"
skip_line=$(grep -m 1 '^CUDA tests skipped:' "$tests_log")
if [ -n "$skip_line" ]; then
    result cuda_tests "FAIL: skipped" "$skip_line"
elif ((rc == 0)) && [ "${passed:-0}" -gt 0 ] && [ "${failed:-1}" -eq 0 ]; then
    result cuda_tests ok "$passed passed, 0 failed ($(($(elapsed) - start)) s)"
else
    result cuda_tests "$(failure $rc FAIL)" \
        "${passed:-?} passed, ${failed:-?} failed; see $tests_log"
fi

# --- phase 1: timing
bench() {
    local stage=$1 prefix=$2 cap=$3 log ms ips mib mallocs
    shift 3
    log=$LOG_DIR/04_$stage.log
    limited "$cap" "$log" "$BENCH" --device cuda --steps 20 "$@"
    local rc=$?
    ms=$(json_field "$log" ms_per_step)
    ips=$(json_field "$log" images_per_s)
    mib=$(json_field "$log" peak_device_mib)
    mallocs=$(json_field "$log" mallocs_in_timed_steps)
    figure "${prefix}_ms_per_step" "$(number "$ms")"
    figure "${prefix}_images_per_s" "$(number "$ips")"
    figure "${prefix}_peak_mib" "$(number "$mib")"
    figure "${prefix}_mallocs_in_timed_steps" "$(number "$mallocs")"
    if ((rc == 0)) && [ -n "$ms" ]; then
        result "$stage" ok "$ms ms/step, $ips img/s, peak $mib MiB, $mallocs cudaMalloc in timed steps"
    else
        result "$stage" "$(failure $rc "FAIL: no JSON line")" "see $log"
    fi
}
bench bench_default default 60
bench bench_wide wide 90 --channels 128 --blocks 8 --attention on --batch 128

# --- phase 2
MNIST=$(find_mnist)
SAN=$(find_sanitizer)
if [ -z "$MNIST" ]; then
    say "MNIST not found in ./data/mnist or \$VDM_DATA/mnist: training, evaluation, determinism and the 20-step sanitizer runs are skipped (copy the four .gz files to ./data/mnist)"
fi

lane_training() {
    local log=$LOG_DIR/05_train.log run=$SCRATCH/run ckpt rc bpd
    if [ -z "$MNIST" ]; then
        for s in train eval_test eval_cpu_vs_cuda; do result "$s" "skipped: no MNIST" "copy the four .gz files to ./data/mnist"; done
        return
    fi
    limited 200 "$log" ./train_mnist --device cuda --steps 2000 --data "$MNIST" --out "$run" --threads 4
    rc=$?
    mkdir -p "$LOG_DIR/train_run" && cp "$run/metrics.jsonl" "$run/samples.png" "$LOG_DIR/train_run/" 2>/dev/null
    ckpt=$run/checkpoint.safetensors
    figure train_seconds "$(number "$(json_field "$log" seconds)")"
    figure train_val_bpd "$(number "$(json_field "$log" val_bpd)")"
    figure train_peak_mib "$(number "$(json_field "$log" peak_device_mib)")"
    figure train_device_mallocs "$(number "$(json_field "$log" device_mallocs)")"
    if ((rc != 0)) || [ ! -f "$ckpt" ]; then
        result train "$(status_text $rc)" "see $log"
        for s in eval_test eval_cpu_vs_cuda; do result "$s" "skipped: training failed" ""; done
        return
    fi
    result train ok "val bpd $(json_field "$log" val_bpd), train bpd $(json_field "$log" train_bpd), $(json_field "$log" seconds) s (GPU shared with the other lanes), peak $(json_field "$log" peak_device_mib) MiB"

    log=$LOG_DIR/06_eval_test.log
    limited 60 "$log" ./vdm_eval --device cuda --ckpt "$ckpt" --data "$MNIST" --threads 4
    rc=$?
    bpd=$(json_field "$log" bpd)
    figure test_bpd_2000 "$(number "$bpd")"
    figure test_bpd_stderr "$(number "$(json_field "$log" bpd_stderr)")"
    if ((rc == 0)) && [ -n "$bpd" ]; then
        result eval_test ok "test bpd $bpd +- $(json_field "$log" bpd_stderr) on $(json_field "$log" n) images (CPU run: 1.447 +- 0.02)"
    else
        result eval_test "$(status_text $rc)" "see $log"
    fi

    # The same images and seed on both devices: the bound must agree within 1e-3 bpd.
    local cuda_log=$LOG_DIR/07_eval500_cuda.log cpu_log=$LOG_DIR/07_eval500_cpu.log rc_cuda rc_cpu cuda_bpd cpu_bpd diff
    limited 45 "$cuda_log" ./vdm_eval --device cuda --n 500 --seed 0 --ckpt "$ckpt" --data "$MNIST" --threads 4
    rc_cuda=$?
    limited 90 "$cpu_log" ./vdm_eval --device cpu --n 500 --seed 0 --ckpt "$ckpt" --data "$MNIST" --threads 8
    rc_cpu=$?
    cuda_bpd=$(json_field "$cuda_log" bpd)
    cpu_bpd=$(json_field "$cpu_log" bpd)
    figure eval500_cuda_bpd "$(number "$cuda_bpd")"
    figure eval500_cpu_bpd "$(number "$cpu_bpd")"
    if ((rc_cuda == 0 && rc_cpu == 0)) && [ -n "$cuda_bpd" ] && [ -n "$cpu_bpd" ]; then
        diff=$(abs_diff "$cuda_bpd" "$cpu_bpd")
        figure cpu_cuda_bpd_diff "$(number "$diff")"
        if awk -v d="$diff" 'BEGIN { exit !(d <= 1e-3) }'; then
            result eval_cpu_vs_cuda ok "cuda $cuda_bpd, cpu $cpu_bpd: difference $diff <= 1e-3"
        else
            result eval_cpu_vs_cuda "FAIL: difference $diff > 1e-3" "cuda $cuda_bpd, cpu $cpu_bpd"
        fi
    elif ((rc_cuda == 0 && rc_cpu == 0)); then
        result eval_cpu_vs_cuda "FAIL: no JSON line" "see $cuda_log and $cpu_log"
    else
        result eval_cpu_vs_cuda "$(status_text $((rc_cuda != 0 ? rc_cuda : rc_cpu)))" "see $cuda_log and $cpu_log"
    fi
}

lane_determinism() {
    local log=$LOG_DIR/08_determinism.log d=$SCRATCH/det rc_a rc_b rc_c rc_r
    if [ -z "$MNIST" ]; then
        for s in det_same_seed det_resume; do result "$s" "skipped: no MNIST" ""; done
        figure determinism_same_seed '"skipped"'
        figure determinism_resume '"skipped"'
        return
    fi
    # Per-step lines (--log-every 1) and the final evaluation make up metrics.jsonl.
    local run=(./train_mnist --device cuda --data "$MNIST" --eval-every 0 --sample-n 0 --val-n 200
               --log-every 1 --threads 2)
    limited 60 "$log" "${run[@]}" --steps 30 --out "$d/a"
    rc_a=$?
    limited 60 "$log" "${run[@]}" --steps 30 --out "$d/b"
    rc_b=$?
    if ((rc_a == 0 && rc_b == 0)) && cmp "$d/a/metrics.jsonl" "$d/b/metrics.jsonl" >>"$log" 2>&1; then
        result det_same_seed ok "metrics.jsonl identical ($(wc -l <"$d/a/metrics.jsonl") lines), checkpoints $(cmp -s "$d/a/checkpoint.safetensors" "$d/b/checkpoint.safetensors" && echo identical || echo DIFFERENT)"
        figure determinism_same_seed '"ok"'
    else
        result det_same_seed "$(failure $((rc_a != 0 ? rc_a : rc_b)) "FAIL: metrics differ")" "see $log"
        figure determinism_same_seed '"fail"'
    fi
    # 60 steps in one go, and run a's 30 resumed to 60 in another folder.
    limited 60 "$log" "${run[@]}" --steps 60 --out "$d/c"
    rc_c=$?
    rc_r=1
    if ((rc_a == 0)); then
        limited 60 "$log" "${run[@]}" --steps 60 --resume "$d/a/checkpoint.safetensors" --out "$d/r"
        rc_r=$?
    fi
    if ((rc_c == 0 && rc_r == 0)) && cmp "$d/c/checkpoint.safetensors" "$d/r/checkpoint.safetensors" >>"$log" 2>&1; then
        local tail_same=different
        tail -n "$(wc -l <"$d/r/metrics.jsonl")" "$d/c/metrics.jsonl" | cmp -s - "$d/r/metrics.jsonl" && tail_same=identical
        result det_resume ok "final checkpoints identical; steps 31-60 metrics $tail_same"
        figure determinism_resume '"ok"'
    else
        result det_resume "$(failure $((rc_c != 0 ? rc_c : rc_r)) "FAIL: checkpoints differ")" "see $log"
        figure determinism_resume '"fail"'
    fi
}

# sanitize STAGE FIGURE CAP TOOL [SANITIZER OPTIONS] -- CMD...
sanitize() {
    local stage=$1 key=$2 cap=$3 tool=$4 log count rc tests passed failed
    shift 4
    local opts=()
    while [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
    log=$LOG_DIR/09_$stage.log
    limited "$cap" "$log" "$SAN" --tool "$tool" ${opts[@]+"${opts[@]}"} "$@"
    rc=$?
    if [ "$tool" = racecheck ]; then
        count=$(grep -o 'RACECHECK SUMMARY: [0-9]* hazard' "$log" | tail -n 1 | grep -o '[0-9]*')
    else
        count=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$log" | tail -n 1 | grep -o '[0-9]*')
    fi
    figure "$key" "$(number "$count")"
    tests=""
    read -r passed failed <<<"$(doctest_counts "$log")"
    [ -n "${passed:-}" ] && tests="; tests ${passed} passed, ${failed} failed"
    if [ -z "$count" ]; then
        result "$stage" "$(failure $rc "FAIL: no summary line")" "see $log"
    elif ((count > 0)); then
        result "$stage" "FAIL: $count $( [ "$tool" = racecheck ] && echo hazards || echo errors)" "see $log$tests"
    elif ((rc != 0)); then
        result "$stage" "$(status_text $rc)" "0 reported, but the program failed$tests; see $log"
    else
        result "$stage" ok "0 $( [ "$tool" = racecheck ] && echo hazards || echo errors)$tests"
    fi
}

# One sanitizer over the parity tests, then over 20 training steps of a tiny config.
# unit: errors (memcheck) or hazards (racecheck), for the figures' names.
lane_sanitizer() {
    local tool=$1 unit=$2 opts=()
    # The parity tests' CPU references share the cores with the other lanes.
    local OMP_NUM_THREADS=6
    export OMP_NUM_THREADS
    if [ -z "$SAN" ]; then
        for s in "${tool}_parity" "${tool}_train"; do
            result "$s" "skipped: no compute-sanitizer" "not on PATH, in /usr/local/cuda/bin or under /opt/nvidia"
        done
        return
    fi
    [ "$tool" = racecheck ] && opts=(${NO_GEMM[@]+"${NO_GEMM[@]}"})
    sanitize "${tool}_parity" "${tool}_parity_$unit" 150 "$tool" ${opts[@]+"${opts[@]}"} -- \
        "$RUNNER" -tc='cuda parity*'
    if [ -z "$MNIST" ]; then
        result "${tool}_train" "skipped: no MNIST" ""
        return
    fi
    sanitize "${tool}_train" "${tool}_train_$unit" 120 "$tool" ${opts[@]+"${opts[@]}"} -- \
        ./train_mnist --device cuda --steps 20 --channels 8 --blocks 1 --batch 16 --val-n 64 \
        --sample-n 0 --eval-every 0 --data "$MNIST" --threads 4 --out "$SCRATCH/san_$tool"
}

NO_GEMM=()  # racecheck's filter that leaves cuBLAS's gemm kernels out, when it has one
if [ -n "$SAN" ]; then
    echo "compute-sanitizer: $SAN" >"$LOG_DIR/09_sanitizer_version.log"
    timeout 20 "$SAN" --version >>"$LOG_DIR/09_sanitizer_version.log" 2>&1
    if timeout 20 "$SAN" --help 2>/dev/null | grep -q -- '--kernel-name-exclude'; then
        NO_GEMM=(--kernel-name-exclude kns=gemm)
    fi
fi

# The lanes share the GPU unless it admits one process at a time.
if grep -qi 'exclusive' "$gpu_log"; then
    say "the GPU is in an exclusive compute mode: the lanes run one after another"
    lane_training
    lane_determinism
    lane_sanitizer memcheck errors
    lane_sanitizer racecheck hazards
else
    lane_training &
    lanes=($!)
    lane_determinism &
    lanes+=($!)
    lane_sanitizer memcheck errors &
    lanes+=($!)
    lane_sanitizer racecheck hazards &
    lanes+=($!)
    wait "${lanes[@]}"
fi

finish
