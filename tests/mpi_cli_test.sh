#!/usr/bin/env bash
# Data-parallel runs under mpirun (distributed/communicator.h), on one machine:
# two processes train to the weights of one process (to float rounding), a checkpoint
# of two resumes in one, vdm_eval splits its batches, and a rank that hangs, dies or
# gets a signal stops the run with a message instead of hanging. Skips (passing) when
# mpirun is missing or the apps were built without MPI (make MPI=0).
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh

if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip: no mpirun on this machine (install openmpi-bin; .ci/run does)"
    exit 0
fi
# Open MPI refuses root unless told, and by default allows one process per core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0  # MPI_Init's allocations live until exit
launch=(mpirun -np 2)
mpirun --version 2>/dev/null | grep -q "Open MPI" && launch+=(--oversubscribe)

err=$("${launch[@]}" "$apps/train_mnist" --help 2>&1 >/dev/null)
if [[ $err == *"this build has no MPI"* ]]; then
    echo "skip: the apps in $apps were built without MPI ($(head -1 <<<"$err"))"
    exit 0
fi

tiny=(--data "$data" --channels 8 --blocks 1 --attention off --warmup 2 --eval-every 3 --log-every 1
      --val-n 4 --sample-n 0 --seed 5 --threads 1 --dropout 0.1 --schedule learned)
checks=(--keys-equal step,adam_steps,ema_updates,noise_rng_offset,dropout_rng_offset,sampler_epoch,sampler_position)

# 1. Seven images per step shared 4 + 3, with dropout and the learned schedule's split
#    gradients: the same run as one process, to float rounding. (Tolerance: one process
#    with 1 and with 2 threads differs by up to 5e-5 of a group's largest value here,
#    in the Adam moments; the weights by 2e-7.)
"$apps/train_mnist" "${tiny[@]}" --batch 7 --steps 6 --out "$tmp/one" >"$tmp/one.json" 2>"$tmp/one.err" \
    || fail "one process: $(tail -1 "$tmp/one.err")"
"${launch[@]}" "$apps/train_mnist" "${tiny[@]}" --batch 7 --steps 6 --out "$tmp/two" >"$tmp/two.json" 2>"$tmp/two.err" \
    || fail "two processes: $(tail -3 "$tmp/two.err")"
if report=$(python3 tests/compare_checkpoints.py "$tmp/one/checkpoint.safetensors" "$tmp/two/checkpoint.safetensors" \
        --rtol 1e-3 "${checks[@]}"); then
    pass "2 processes x batch 7 = 1 process: $(tail -1 <<<"$report")"
else
    fail "2 processes differ from 1: $report"
fi
[ "$(grep -c . "$tmp/two.json")" -eq 1 ] && [[ $(cat "$tmp/two.json") == *'"processes": 2'* ]] \
    && [ "$(grep -c '^training:' "$tmp/two.err")" -eq 1 ] \
    && pass "rank 0 alone reports (one JSON line, one banner)" \
    || fail "the report is not rank 0's alone: $(cat "$tmp/two.json") / $(grep -c '^training:' "$tmp/two.err") banners"
bpd_one=$(sed -E 's/.*"val_bpd": ([^,]*),.*/\1/' "$tmp/one.json")
bpd_two=$(sed -E 's/.*"val_bpd": ([^,]*),.*/\1/' "$tmp/two.json")
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-5 * abs(a))" \
    "$bpd_one" "$bpd_two" && pass "validation bpd $bpd_one vs $bpd_two" || fail "validation bpd $bpd_one vs $bpd_two"

# 2. A checkpoint of two processes continues in one (no per-rank state).
"${launch[@]}" "$apps/train_mnist" "${tiny[@]}" --batch 7 --steps 3 --out "$tmp/half" >/dev/null 2>&1 \
    && "$apps/train_mnist" --resume "$tmp/half/checkpoint.safetensors" --data "$data" --steps 6 --out "$tmp/half" \
        --eval-every 3 --val-n 4 --sample-n 0 --threads 1 >/dev/null 2>&1 \
    && report=$(python3 tests/compare_checkpoints.py "$tmp/one/checkpoint.safetensors" \
        "$tmp/half/checkpoint.safetensors" --rtol 1e-3 "${checks[@]}") \
    && pass "3 steps on 2 processes + 3 resumed on 1 = 6 on 1: $(tail -1 <<<"$report")" \
    || fail "resume across process counts: $report"

# 3. vdm_eval: the two processes split the batches; every image sees its one-process draws.
eval_one=$("$apps/vdm_eval" --ckpt "$tmp/one" --data "$data" --batch 5 --threads 1 2>/dev/null)
eval_two=$("${launch[@]}" "$apps/vdm_eval" --ckpt "$tmp/one" --data "$data" --batch 5 --threads 1 2>/dev/null)
[ -n "$eval_one" ] && [ "${eval_one/\"n\": 12,/}" != "$eval_one" ] && [ "$eval_one" == "$eval_two" ] \
    && pass "vdm_eval on 2 processes prints what 1 prints: ${eval_two:0:60}..." \
    || fail "vdm_eval: 1 process '$eval_one', 2 processes '$eval_two'"
err=$("${launch[@]}" "$apps/vdm_eval" --ckpt "$tmp/one" --data "$data" --method ode 2>&1 >/dev/null)
[[ $err == *"the ODE's bound is not split across processes"* ]] && pass "vdm_eval --method ode refuses 2 processes" \
    || fail "vdm_eval --method ode on 2 processes: $err"

# 4. A batch too small to share.
err=$("${launch[@]}" "$apps/train_mnist" "${tiny[@]}" --batch 1 --steps 2 --out "$tmp/small" 2>&1 >/dev/null)
[[ $err == *"a batch of 1 cannot be shared by 2 processes"* ]] && pass "--batch 1 on 2 processes is refused" \
    || fail "--batch 1 on 2 processes: $err"

# Long runs for the failure cases: the pid of a rank (by Open MPI's rank variable).
rank_pid() {  # rank_pid MPIRUN_PID RANK
    local p
    for p in $(pgrep -P "$1"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$p"
    done
}
start_long_run() {  # start_long_run NAME [FLAGS...]: sets $run_pid, waits for 3 logged steps
    local name=$1; shift
    "${launch[@]}" "$apps/train_mnist" "${tiny[@]}" --batch 4 --steps 1000000 --eval-every 0 "$@" \
        --out "$tmp/$name" >/dev/null 2>"$tmp/$name.err" &
    run_pid=$!
    for _ in $(seq 600); do
        [ -s "$tmp/$name/metrics.jsonl" ] && [ "$(wc -l <"$tmp/$name/metrics.jsonl")" -ge 3 ] && return 0
        sleep 0.1
    done
    return 1
}
finishes_within() {  # finishes_within PID SECONDS: waits; sets $rc
    for _ in $(seq $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || { wait "$1"; rc=$?; return 0; }
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null; rc=timeout
    return 1
}

if ! mpirun --version 2>/dev/null | grep -q "Open MPI"; then
    echo "skip: the failure cases find ranks by Open MPI's OMPI_COMM_WORLD_RANK"
    exit $status
fi

# 5. A rank that hangs (stopped): the other gives up after --mpi-timeout with one line.
if start_long_run hang --mpi-timeout 2; then
    kill -STOP "$(rank_pid $run_pid 1)"
    if finishes_within $run_pid 60 && [ "$rc" -ne 0 ] \
        && grep -q "^error: rank 0 of 2: no answer from the other ranks in .* after 2 s" "$tmp/hang.err"; then
        pass "a hung rank: exit $rc, $(grep '^error: rank 0' "$tmp/hang.err" | cut -c1-90)..."
    else
        fail "a hung rank: exit $rc, $(tail -3 "$tmp/hang.err")"
    fi
else
    fail "hang: no progress: $(tail -2 "$tmp/hang.err")"
fi

# 6. A rank that dies: the launcher stops the others at once.
if start_long_run dead; then
    kill -9 "$(rank_pid $run_pid 1)"
    finishes_within $run_pid 60 && [ "$rc" -ne 0 ] && grep -q "rank 1 .* exited on signal 9" "$tmp/dead.err" \
        && pass "a dead rank: exit $rc, $(grep -o 'process rank 1 .*' "$tmp/dead.err")" \
        || fail "a dead rank: exit $rc, $(tail -3 "$tmp/dead.err")"
else
    fail "dead: no progress: $(tail -2 "$tmp/dead.err")"
fi

# 7. SIGTERM to rank 1 only: both stop after the same step, rank 0 writes the checkpoint.
if start_long_run term; then
    kill -TERM "$(rank_pid $run_pid 1)"
    if finishes_within $run_pid 60 && [ "$rc" -eq 130 ] && grep -q '^interrupted at step' "$tmp/term.err"; then
        step=$(sed -nE 's/^interrupted at step ([0-9]+).*/\1/p' "$tmp/term.err")
        "$apps/train_mnist" --resume "$tmp/term/checkpoint.safetensors" --data "$data" --steps $((step + 1)) \
            --out "$tmp/term" --eval-every 0 --val-n 4 --sample-n 0 --threads 1 >/dev/null 2>&1 \
            && pass "SIGTERM to rank 1: exit 130 at step $step, the checkpoint resumes" \
            || fail "SIGTERM to rank 1: the checkpoint of step $step does not resume"
    else
        fail "SIGTERM to rank 1: exit $rc, $(tail -3 "$tmp/term.err")"
    fi
else
    fail "term: no progress: $(tail -2 "$tmp/term.err")"
fi

exit $status
