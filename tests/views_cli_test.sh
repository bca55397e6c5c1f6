#!/usr/bin/env bash
# The other views of one model from the command line, on the tiny synthetic IDX data
# of tests/cli_helpers.sh:
#  - train_mnist --schedule ddpm --objective simple --loss discrete trains, logs the
#    objective it minimized beside the bound, and its checkpoint evaluates (the bound);
#  - vdm_sample with each sampler (ode too) writes a PNG and, with --save-idx, an IDX file of
#    (n, 28, 28) bytes, reports "sampler" and "network_evals", and is deterministic;
#  - bad input (unknown sampler, zero or negative steps, negative eta, flags for
#    another sampler, an objective that does not fit the loss or schedule, gamma
#    flags with the ddpm schedule) is one line on stderr and exit 1.
set -u
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh  # $apps, $tmp, $data, fail, pass, expect_error, $status

# --- train: DDPM's schedule and simple loss, a few steps
tiny=(--data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 --eval-every 0
      --log-every 1 --val-n 4 --sample-n 0 --seed 3)
"$apps/train_mnist" "${tiny[@]}" --steps 3 --schedule ddpm --objective simple --loss discrete --T 50 \
    --out "$tmp/ddpm" >"$tmp/ddpm.json" 2>"$tmp/ddpm.err" || fail "train_mnist ddpm simple: $(tail -1 "$tmp/ddpm.err")"
last=$(tail -1 "$tmp/ddpm.json")
for key in '"step": 3' train_bpd train_loss val_bpd; do
    [[ $last == *"$key"* ]] || fail "train_mnist ddpm simple: the last line lacks $key: $last"
done
grep -q 'schedule ddpm, loss discrete T=50, objective simple' "$tmp/ddpm.err" \
    && pass "train_mnist --schedule ddpm --objective simple trains" \
    || fail "train_mnist's banner does not name the schedule and objective: $(grep model: "$tmp/ddpm.err")"
[ "$(grep -c train_loss "$tmp/ddpm/metrics.jsonl")" -eq 3 ] || fail "metrics.jsonl: expected 3 lines with train_loss"
ckpt=$tmp/ddpm/checkpoint.safetensors
e=$("$apps/vdm_eval" --ckpt "$ckpt" --data "$data" 2>/dev/null | tail -1)
[[ $e == *'"bpd": '* && $e == *diffusion* ]] && pass "vdm_eval reports the bound of a simple-objective checkpoint" \
    || fail "vdm_eval on the ddpm checkpoint: $e"

# --- sample with each sampler: PNG, IDX of the right size, the JSON fields
n=5
declare -A evals=([ancestral]=3 [ddim]=3 [langevin]=6 [pc]=9)
for sampler in ancestral ddim langevin pc; do
    extra=()
    [[ $sampler == langevin || $sampler == pc ]] && extra=(--langevin-iters 2)
    "$apps/vdm_sample" --ckpt "$ckpt" --n $n --steps 3 --sampler $sampler "${extra[@]}" \
        --out "$tmp/$sampler.png" --save-idx "$tmp/$sampler.idx" >"$tmp/$sampler.json" 2>"$tmp/$sampler.err" \
        || { fail "vdm_sample --sampler $sampler: $(tail -1 "$tmp/$sampler.err")"; continue; }
    json=$(tail -1 "$tmp/$sampler.json")
    before=$status
    [ "$(od -An -tx1 -N8 "$tmp/$sampler.png" | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$sampler: the PNG is not a PNG"
    # IDX: 00 00 08 03, then n, 28, 28 as big-endian u32, then n * 784 bytes
    header=$(od -An -tx1 -N16 "$tmp/$sampler.idx" | tr -d ' \n')
    size=$(wc -c <"$tmp/$sampler.idx")
    [ "$header" = "00000803000000050000001c0000001c" ] || fail "$sampler: IDX header $header"
    [ "$size" -eq $((16 + n * 784)) ] || fail "$sampler: IDX has $size bytes, expected $((16 + n * 784))"
    [[ $json == *"\"sampler\": \"$sampler\""* && $json == *"\"network_evals\": ${evals[$sampler]},"* ]] \
        || fail "$sampler: JSON $json (expected network_evals ${evals[$sampler]})"
    [ "$status" = "$before" ] && pass "vdm_sample --sampler $sampler: PNG, IDX ($size bytes), ${evals[$sampler]} network evaluations"
done
# the probability-flow ODE: adaptive, so no --steps; loose tolerances keep it quick
"$apps/vdm_sample" --ckpt "$ckpt" --n $n --sampler ode --rtol 1e-3 --atol 1e-3 --out "$tmp/ode.png" \
    --save-idx "$tmp/ode.idx" >"$tmp/ode.json" 2>"$tmp/ode.err" || fail "vdm_sample --sampler ode: $(tail -1 "$tmp/ode.err")"
json=$(tail -1 "$tmp/ode.json")
if [[ $json == *'"sampler": "ode"'* && $json == *'"steps": null'* && $json =~ \"network_evals\":\ ([0-9]+) ]] &&
    [ "${BASH_REMATCH[1]}" -ge 6 ] && [ "$(wc -c <"$tmp/ode.idx")" -eq $((16 + n * 784)) ]; then
    pass "vdm_sample --sampler ode: PNG, IDX, ${BASH_REMATCH[1]} network evaluations"
else
    fail "vdm_sample --sampler ode: JSON $json"
fi
"$apps/vdm_sample" --ckpt "$ckpt" --n $n --steps 3 --sampler ddim --out "$tmp/ddim2.png" --save-idx "$tmp/ddim2.idx" >/dev/null 2>&1
cmp -s "$tmp/ddim.idx" "$tmp/ddim2.idx" && pass "vdm_sample --sampler ddim is deterministic" || fail "two ddim runs differ"
"$apps/vdm_sample" --ckpt "$ckpt" --n $n --steps 3 --sampler ddim --eta 1 --out "$tmp/ddim_eta1.png" >/dev/null 2>"$tmp/eta1.err" \
    && pass "vdm_sample --sampler ddim --eta 1" || fail "ddim --eta 1: $(tail -1 "$tmp/eta1.err")"

# --- bad input, one line each
# --trajectory: one PNG strip per sample, 8 more network evaluations; not for ode.
line=$("$apps/vdm_sample" --ckpt "$ckpt" --n 3 --steps 14 --sampler ddim --out "$tmp/t.png" --trajectory "$tmp/traj" 2>/dev/null | tail -1)
[[ $line == *'"network_evals": 22'* ]] && [ "$(ls "$tmp/traj" | wc -l)" -eq 3 ] \
    && [ "$(od -An -tx1 -N8 "$tmp/traj/sample_2.png" | tr -d ' \n')" = 89504e470d0a1a0a ] \
    && pass "--trajectory: 3 PNG strips, 14 + 8 network evaluations" || fail "--trajectory: $line, $(ls "$tmp/traj")"
expect_error vdm_sample "--trajectory needs a fixed-grid sampler" --ckpt "$ckpt" --out "$tmp/x.png" --sampler ode --trajectory "$tmp/traj2"
expect_error vdm_sample "not one of ancestral|ddim|langevin|pc|ode" --ckpt "$ckpt" --out "$tmp/x.png" --sampler euler
expect_error vdm_sample "--steps: 0 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --steps 0
expect_error vdm_sample "--steps: -3 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --steps -3
expect_error vdm_sample "--eta: -0.1 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --sampler ddim --eta -0.1
expect_error vdm_sample "--eta applies to --sampler ddim only" --ckpt "$ckpt" --out "$tmp/x.png" --eta 0.5
expect_error vdm_sample "--langevin-iters: 0 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --sampler pc --langevin-iters 0
expect_error vdm_sample "--langevin-snr: -1 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --sampler langevin --langevin-snr -1
expect_error vdm_sample "--langevin-iters applies to --sampler langevin or pc only" --ckpt "$ckpt" --out "$tmp/x.png" \
    --sampler ddim --langevin-iters 3
expect_error vdm_sample "--rtol: 0 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --sampler ode --rtol 0
expect_error vdm_sample "--atol: -1e-5 is outside" --ckpt "$ckpt" --out "$tmp/x.png" --sampler ode --atol -1e-5
expect_error vdm_sample "--rtol applies to --sampler ode only" --ckpt "$ckpt" --out "$tmp/x.png" --rtol 1e-3
expect_error vdm_sample "--steps does not apply to --sampler ode" --ckpt "$ckpt" --out "$tmp/x.png" --sampler ode --steps 10
expect_error train_mnist "not one of vlb|simple" --data "$data" --objective elbo
expect_error train_mnist "--objective simple needs --loss discrete" --data "$data" --objective simple
expect_error train_mnist "--objective simple cannot train --schedule learned" --data "$data" --objective simple \
    --loss discrete --schedule learned
expect_error train_mnist "do not apply to --schedule ddpm" --data "$data" --schedule ddpm --gamma-min -5
expect_error train_mnist "--schedule ddpm needs --T of at least 2" --data "$data" --schedule ddpm --T 1
exit $status
