#!/usr/bin/env bash
# vdm_eval --method vlb|ode|both from the command line, on a tiny synthetic IDX dataset
# and a 3-step checkpoint made here (loose ODE tolerances and one thread: seconds):
#  - bad ODE flags (an unknown method, a tolerance <= 0, zero probes or images, an ODE
#    flag without the ODE) each give one line on stderr and exit 1, and so does an
#    integration that needs more evaluations than allowed (after its progress lines);
#  - --method both prints the variational bound's keys and ode_bpd, ode_bpd_stderr,
#    ode_images, ode_network_evals in its last JSON line; its VLB figures are those of
#    --method vlb, which is the default and prints no ODE keys;
#  - the ODE's bound is deterministic for a seed and the same whether or not the VLB
#    was evaluated first.
set -u
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh  # $apps, $tmp, $data, fail, pass, expect_error, $status

# --- flags that fail before any checkpoint is read
help=$("$apps/vdm_eval" --help)
for flag in --method --ode-images --rtol --atol --probes --divergence --max-evals; do
    grep -q -- "$flag" <<<"$help" || fail "vdm_eval --help lists no $flag"
done
expect_error vdm_eval "not one of" --method exact --ckpt x
expect_error vdm_eval "--rtol: 0 is outside (0, 1]" --method ode --rtol 0 --ckpt x
expect_error vdm_eval "--atol: -1e-5 is outside (0, 1]" --method ode --atol -1e-5 --ckpt x
expect_error vdm_eval "--probes: 0 is outside" --method ode --probes 0 --ckpt x
expect_error vdm_eval "--ode-images: 0 is outside" --method both --ode-images 0 --ckpt x
expect_error vdm_eval "not one of" --method ode --divergence fast --ckpt x
expect_error vdm_eval "--rtol needs --method ode or both" --rtol 1e-3 --ckpt x
expect_error vdm_eval "--probes needs --method ode or both" --method vlb --probes 2 --ckpt x

# --- a tiny checkpoint
"$apps/train_mnist" --data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 \
    --eval-every 3 --val-n 4 --sample-n 0 --seed 3 --steps 3 --out "$tmp/run" >/dev/null 2>"$tmp/train.err" \
    || fail "train_mnist: $(tail -1 "$tmp/train.err")"
ckpt=$tmp/run/checkpoint.safetensors
eval_() { "$apps/vdm_eval" --ckpt "$ckpt" --data "$data" --n 3 --threads 1 "$@" 2>"$tmp/eval.err" | tail -1; }
ode_flags=(--ode-images 2 --rtol 1e-2 --atol 1e-2)
# too few evaluations: after the progress lines, one error line, exit 1
"$apps/vdm_eval" --ckpt "$ckpt" --data "$data" --n 2 --threads 1 --method ode "${ode_flags[@]}" \
    --max-evals 10 >/dev/null 2>"$tmp/few.err"
rc=$?
last=$(tail -1 "$tmp/few.err")
[ $rc = 1 ] && [[ $last == "error: ode: 10 evaluations reached at t = "*"loosen the tolerances"* ]] \
    && [ "$(grep -c '^error' "$tmp/few.err")" = 1 ] && pass "--max-evals 10 -> $last" \
    || fail "--max-evals 10: exit $rc, stderr: $(cat "$tmp/few.err")"

field() {  # field JSON KEY: the value after "KEY": in a JSON line
    sed -E "s/.*\"$2\": \"?([^,\"}]+).*/\\1/" <<<"$1"
}

default=$(eval_)
vlb=$(eval_ --method vlb)
both=$(eval_ --method both "${ode_flags[@]}")
ode=$(eval_ --method ode "${ode_flags[@]}")
again=$(eval_ --method ode "${ode_flags[@]}")
[ "$default" = "$vlb" ] && [[ $vlb != *ode_* ]] && pass "--method vlb is the default and has no ODE keys" \
    || fail "vdm_eval: $default; --method vlb: $vlb"
missing=""
for key in bpd bpd_stderr prior recon diffusion n ode_bpd ode_bpd_stderr ode_images ode_network_evals; do
    [[ $both == *"\"$key\": "* ]] || missing+=" $key"
done
[ -z "$missing" ] && pass "--method both: all keys" || fail "--method both lacks$missing: $both $(tail -1 "$tmp/eval.err")"
[ "$(field "$both" ode_images)" = 2 ] || fail "--method both: ode_images is not 2: $both"
same=1
for key in bpd bpd_stderr prior recon diffusion n; do
    [ "$(field "$both" $key)" = "$(field "$vlb" $key)" ] || same=0
done
[ $same = 1 ] && pass "--method both: the VLB figures of --method vlb" || fail "both: $both; vlb: $vlb"
[[ $ode == *'"ode_bpd": '* && $ode != *'"bpd": '* ]] || fail "--method ode: $ode"
strip_seconds() { sed -E 's/"ode_seconds": [0-9.]+, //' <<<"$1"; }
[ "$(strip_seconds "$ode")" = "$(strip_seconds "$again")" ] && [ "$(field "$ode" ode_bpd)" = "$(field "$both" ode_bpd)" ] \
    && pass "the ODE bound is reproducible ($(field "$ode" ode_bpd) bpd, $(field "$ode" ode_network_evals) evaluations)" \
    || fail "--method ode: $ode; again: $again; both: $both"
awk -v b="$(field "$ode" ode_bpd)" -v s="$(field "$ode" ode_bpd_stderr)" -v e="$(field "$ode" ode_network_evals)" \
    'BEGIN { exit !(b > 1 && b < 30 && s > 0 && e >= 8) }' \
    && pass "ode_bpd, its stderr and the evaluations are plausible" || fail "implausible: $ode"

exit $status
