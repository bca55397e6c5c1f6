#!/usr/bin/env bash
# vdm_tour and vdm_eval --index from the command line, on a tiny synthetic IDX
# dataset and a 3-step checkpoint made here:
#  - bad flags, a missing checkpoint, an index outside the split each give one line
#    on stderr and exit 1;
#  - the tour's three bound terms of an image equal vdm_eval --index's for the same
#    index and seed (test and val splits), and its integrand at the bound's own time
#    equals the bound's diffusion term;
#  - the tour is deterministic, and its PNG strip has the documented width and height.
set -u
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh  # $apps, $tmp, $data, fail, pass, expect_error, $status

# --- flags that fail before any checkpoint is read
"$apps/vdm_tour" --help | grep -q -- '--times' || fail "vdm_tour --help lists no --times"
"$apps/vdm_eval" --help | grep -q -- '--index' || fail "vdm_eval --help lists no --index"
expect_error vdm_tour "unknown flag" --stepz 10
expect_error vdm_tour "not an integer" --index abc
expect_error vdm_tour "missing value" --seed
expect_error vdm_tour "outside" --index -1
expect_error vdm_tour "--ckpt is required"
expect_error vdm_tour "not one of" --split train --ckpt x
expect_error vdm_tour "not one of" --device tpu --ckpt x
expect_error vdm_tour "outside" --scale 0 --ckpt x
expect_error vdm_tour "is not a number" --times 0.1,x --ckpt x
expect_error vdm_tour "is not a number" --times 0.1,,0.3 --ckpt x
expect_error vdm_tour "outside [0, 1]" --times 0.5,1.5 --ckpt x
expect_error vdm_tour "not a comma-separated list" --times 0.5, --ckpt x
expect_error vdm_tour "cannot open" --ckpt "$tmp/none.safetensors"
expect_error vdm_eval "outside" --index -2 --ckpt x

# --- a tiny checkpoint
"$apps/train_mnist" --data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 \
    --eval-every 3 --val-n 4 --sample-n 0 --seed 3 --steps 3 --out "$tmp/run" >/dev/null 2>"$tmp/train.err" \
    || fail "train_mnist: $(tail -1 "$tmp/train.err")"
ckpt=$tmp/run/checkpoint.safetensors
expect_error vdm_tour "outside the 12 images of the test split" --ckpt "$ckpt" --data "$data" --index 12
expect_error vdm_eval "outside the 12 images of the test split" --ckpt "$ckpt" --data "$data" --index 12
expect_error vdm_eval "exclude each other" --ckpt "$ckpt" --data "$data" --index 1 --n 3

field() {  # field JSON KEY: the number after "KEY": in a JSON line
    sed -E "s/.*\"$2\": ([-0-9.e+]+).*/\\1/" <<<"$1"
}

# --- the tour's terms are vdm_eval --index's, to the printed digits
tour() { "$apps/vdm_tour" --ckpt "$ckpt" --data "$data" "$@"; }
for args in "--index 5 --seed 7" "--index 0 --seed 0" "--split val --index 2 --seed 11"; do
    # shellcheck disable=SC2086
    t=$(tour $args --times 0.1,0.5,0.9 --grid 20 --out "$tmp/t.png" 2>"$tmp/tour.err" | tail -1)
    # shellcheck disable=SC2086
    e=$("$apps/vdm_eval" --ckpt "$ckpt" --data "$data" $args 2>/dev/null | tail -1)
    [[ $t == *'"strip": '* && $t == *'"times": [{"t": 0.1, '* ]] || fail "vdm_tour $args: $t $(tail -1 "$tmp/tour.err")"
    [[ $e == *'"n": 1,'* ]] || fail "vdm_eval $args: $e"
    same=1
    for key in bpd prior recon diffusion; do
        [ -n "$(field "$t" $key)" ] && [ "$(field "$t" $key)" = "$(field "$e" $key)" ] || same=0
    done
    [ $same = 1 ] && pass "vdm_tour $args: the terms of vdm_eval $args ($(field "$t" prior) $(field "$t" recon) $(field "$t" diffusion))" \
        || fail "vdm_tour $args: $t; vdm_eval: $e"
    [ "$(field "$t" integrand_at_t_bound)" = "$(field "$t" diffusion)" ] \
        && pass "vdm_tour $args: the integrand at the bound's time is its diffusion term" \
        || fail "vdm_tour $args: integrand at t_bound $(field "$t" integrand_at_t_bound), diffusion $(field "$t" diffusion)"
done

# --- stdout, determinism, the strip
tour --index 3 --seed 2 --times 0.2,0.4,0.6 --out "$tmp/a.png" >"$tmp/a.out" 2>/dev/null || fail "vdm_tour --index 3"
tour --index 3 --seed 2 --times 0.2,0.4,0.6 --out "$tmp/b.png" >"$tmp/b.out" 2>/dev/null
grep -q 'gamma(t)' "$tmp/a.out" && grep -q '100-point midpoint grid' "$tmp/a.out" \
    || fail "vdm_tour's table: $(head -5 "$tmp/a.out")"
[ "$(grep -cE '^ +0\.[246]00 ' "$tmp/a.out")" -eq 3 ] || fail "vdm_tour: expected 3 table rows"
sed 's/b\.png/a.png/' "$tmp/b.out" | cmp -s "$tmp/a.out" - && cmp -s "$tmp/a.png" "$tmp/b.png" \
    && pass "vdm_tour is deterministic" || fail "two tours with one seed differ"
png_size() {  # the width and height in a PNG's IHDR (bytes 16..23, big-endian)
    [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = 89504e470d0a1a0a ] || { echo "not-a-png"; return; }
    echo "$((16#$(od -An -tx1 -j16 -N4 "$1" | tr -d ' \n')))x$((16#$(od -An -tx1 -j20 -N4 "$1" | tr -d ' \n')))"
}
# 1 + 3 columns of 28 pixels and 2 rows, 2 pixels of padding around and between
[ "$(png_size "$tmp/a.png")" = "122x62" ] && pass "the strip is 122x62" || fail "strip size $(png_size "$tmp/a.png"), expected 122x62"
[[ $(tail -1 "$tmp/a.out") == *'"width": 122, "height": 62'* ]] || fail "JSON size: $(tail -1 "$tmp/a.out")"
tour --index 3 --seed 2 --times 0.5 --scale 3 --out "$tmp/c.png" >/dev/null 2>&1
[ "$(png_size "$tmp/c.png")" = "186x186" ] && pass "--scale 3 strip is 186x186" || fail "--scale 3: $(png_size "$tmp/c.png")"

# --- with a GPU: the same terms on both devices
if ! "$apps/vdm_tour" --device cuda --ckpt /nonexistent/c.safetensors 2>&1 | grep -q "error: cuda: "; then
    g=$(tour --index 5 --seed 7 --device cuda --out "$tmp/g.png" 2>/dev/null | tail -1)
    c=$(tour --index 5 --seed 7 --out "$tmp/c.png" 2>/dev/null | tail -1)
    awk -v a="$(field "$c" bpd)" -v b="$(field "$g" bpd)" 'BEGIN { d = a - b; exit !(d * d <= (1e-3 * a) ^ 2) }' \
        && pass "vdm_tour: the same bpd on both devices" || fail "vdm_tour on the GPU: $g, on the CPU: $c"
else
    echo "skip: vdm_tour --device cuda (no usable GPU)"
fi
exit $status
