#!/usr/bin/env bash
# train_classifier and vdm_score from the command line, on the tiny synthetic IDX
# dataset of cli_helpers.sh:
#  - train_classifier writes a classifier file (no .tmp left) and ends with JSON;
#  - vdm_score of an IDX file written here ends with JSON holding every key, is
#    deterministic for a seed, takes (N, 1, 28, 28) as well as (N, 28, 28), and a
#    test image set scored against itself has distance 0 and the test set's share;
#  - bad flags, missing files, a file that is not a classifier, images of another
#    size, an N larger than either set: one line on stderr and exit 1.
set -u
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh  # $apps, $tmp, $data, fail, pass, expect_error, write_idx, be32, $status

# --- flags
for app in train_classifier vdm_score; do
    "$apps/$app" --help | grep -q -- '--seed' || fail "$app --help lists no --seed"
    expect_error "$app" "unknown flag" --stepz 10
    expect_error "$app" "not an integer" --seed abc
    expect_error "$app" "missing value" --seed
done
expect_error train_classifier "outside" --steps 0
expect_error train_classifier "not one of" --dataset cifar
expect_error train_classifier "does not exist" --data /nonexistent/vdm-data
expect_error vdm_score "--classifier is required" --samples x.idx
expect_error vdm_score "--samples is required" --classifier x.safetensors
expect_error vdm_score "outside" --bootstrap 1 --classifier x --samples y
expect_error vdm_score "not one of" --reference last --classifier x --samples y

# --- train a tiny classifier, a few steps
classifier=$tmp/c.safetensors
"$apps/train_classifier" --data "$data" --channels 2 --features 8 --steps 4 --batch 8 --out "$classifier" \
    >"$tmp/train.json" 2>"$tmp/train.err" || fail "train_classifier: $(tail -1 "$tmp/train.err")"
last=$(tail -1 "$tmp/train.json")
for key in test_accuracy train_loss '"steps": 4' '"dataset": "mnist"' seconds; do
    [[ $last == *"$key"* ]] || fail "train_classifier's last line lacks $key: $last"
done
[ -s "$classifier" ] && [ ! -e "$classifier.tmp" ] && pass "train_classifier wrote $classifier" \
    || fail "no classifier file"

# --- score: samples are an IDX file; the test set has 12 images
write_idx "$tmp/samples.idx" 10 28 28
score() { "$apps/vdm_score" --classifier "$classifier" --data "$data" --bootstrap 10 "$@" 2>/dev/null | tail -1; }
s1=$(score --samples "$tmp/samples.idx")
for key in '"fid": ' fid_stderr '"confident_share": ' confident_share_stderr '"n": 10' seconds; do
    [[ $s1 == *"$key"* ]] || fail "vdm_score's last line lacks $key: $s1"
done
s2=$(score --samples "$tmp/samples.idx")
[ "${s1%\"seconds\"*}" = "${s2%\"seconds\"*}" ] && pass "vdm_score is deterministic" || fail "vdm_score differs: $s1 / $s2"
s3=$(score --samples "$tmp/samples.idx" --seed 5)
[ "${s1%\"seconds\"*}" != "${s3%\"seconds\"*}" ] && pass "another seed, another bootstrap" || fail "--seed changed nothing"
s4=$(score --samples "$tmp/samples.idx" --n 6 --reference random)
[[ $s4 == *'"n": 6'*'"reference": "random"'* ]] || fail "vdm_score --n 6 --reference random: $s4"

# the same images as a 4-D (N, 1, 28, 28) file: the same numbers
{ printf '\x00\x00\x08\x04'; be32 10; be32 1; be32 28; be32 28; tail -c +17 "$tmp/samples.idx"; } >"$tmp/samples4.idx"
s5=$(score --samples "$tmp/samples4.idx")
[ "${s1%\"seconds\"*}" = "${s5%\"seconds\"*}" ] && pass "(N, 1, 28, 28) scores as (N, 28, 28)" || fail "4-D IDX: $s5 / $s1"

# the test images against themselves: distance 0 (to round-off), their own share
cp "$data/t10k-images-idx3-ubyte" "$tmp/test.idx"
s6=$(score --samples "$tmp/test.idx")
fid=$(sed -E 's/.*"fid": ([-0-9.e+]+).*/\1/' <<<"$s6")
share=$(sed -E 's/.*"confident_share": ([-0-9.e+]+).*/\1/' <<<"$s6")
reference_share=$(sed -E 's/.*"reference_confident_share": ([-0-9.e+]+).*/\1/' <<<"$s6")
awk -v f="$fid" 'BEGIN { exit !(f * f < 1e-12) }' && [ "$share" = "$reference_share" ] \
    && pass "the test images scored against themselves: fid $fid" || fail "self-score: $s6"

# --- bad input
expect_error vdm_score "cannot open" --classifier "$tmp/none.safetensors" --samples "$tmp/samples.idx" --data "$data"
expect_error vdm_score "none.idx" --classifier "$classifier" --samples "$tmp/none.idx" --data "$data"
printf 'not a classifier' >"$tmp/garbage.safetensors"
expect_error vdm_score "garbage.safetensors" --classifier "$tmp/garbage.safetensors" --samples "$tmp/samples.idx"
write_idx "$tmp/small.idx" 10 14 14
expect_error vdm_score "holds (10, 14, 14), not (N, 28, 28) images" --classifier "$classifier" --samples "$tmp/small.idx" --data "$data"
write_idx "$tmp/labels.idx" 10
expect_error vdm_score "holds (10), not (N, 28, 28) images" --classifier "$classifier" --samples "$tmp/labels.idx" --data "$data"
expect_error vdm_score "--n 11 exceeds the 10 images" --classifier "$classifier" --samples "$tmp/samples.idx" --data "$data" --n 11
write_idx "$tmp/many.idx" 13 28 28
expect_error vdm_score "--n 13 exceeds the 12 test images" --classifier "$classifier" --samples "$tmp/many.idx" --data "$data"
expect_error vdm_score "at least 2 images" --classifier "$classifier" --samples "$tmp/samples.idx" --data "$data" --n 1
mkdir -p "$tmp/data14"
write_idx "$tmp/data14/t10k-images-idx3-ubyte" 12 14 14
write_idx "$tmp/data14/t10k-labels-idx1-ubyte" 12
expect_error vdm_score "are 1x14x14, the classifier" --classifier "$classifier" --samples "$tmp/samples.idx" --data "$tmp/data14"
exit $status
