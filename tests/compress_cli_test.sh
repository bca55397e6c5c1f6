#!/usr/bin/env bash
# vdm_compress and vdm_decompress from the command line, with a tiny model trained on
# the synthetic IDX dataset of cli_helpers.sh:
#  - a round trip returns the images byte for byte, raw or gzip input, (N, H, W) or
#    (N, 1, H, W), --skip, also when compressed on 2 threads and decompressed on 1;
#  - both end with a JSON line holding the keys the README names;
#  - another model, a truncated file, a flipped byte, a foreign file, bad flags,
#    images of another size: one line on stderr and exit 1, and no output file.
set -u
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh  # $apps, $tmp, $data, fail, pass, expect_error, write_idx, be32, $status

for app in vdm_compress vdm_decompress; do
    "$apps/$app" --help | grep -q -- '--ckpt' || fail "$app --help lists no --ckpt"
    expect_error "$app" "unknown flag" --ckptz x
    expect_error "$app" "--ckpt is required" --in x --out y
done
expect_error vdm_compress "--in is required" --ckpt x --out y
expect_error vdm_compress "--out is required" --ckpt x --in y
expect_error vdm_compress "outside" --T 0 --ckpt x --in y --out z
expect_error vdm_compress "outside" --bin 0 --ckpt x --in y --out z
expect_error vdm_compress "outside" --range -1 --ckpt x --in y --out z
expect_error vdm_compress "not an integer" --n two --ckpt x --in y --out z
expect_error vdm_decompress "--out is required" --ckpt x --in y

tiny=(--data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 --steps 3
      --val-n 4 --sample-n 0 --log-every 1)
"$apps/train_mnist" "${tiny[@]}" --seed 1 --out "$tmp/m1" >/dev/null 2>"$tmp/m1.err" || fail "train_mnist: $(tail -1 "$tmp/m1.err")"
"$apps/train_mnist" "${tiny[@]}" --seed 2 --out "$tmp/m2" >/dev/null 2>"$tmp/m2.err" || fail "train_mnist: $(tail -1 "$tmp/m2.err")"

images=$data/t10k-images-idx3-ubyte  # 12 images, 28x28
head -c $((16 + 3 * 784)) "$images" | tail -c $((3 * 784)) >"$tmp/first3.bytes"
roundtrip() {  # roundtrip NAME COMPRESS-ARGS...: compress the first 3 images, decompress, compare
    local name=$1; shift
    if "$apps/vdm_compress" --ckpt "$tmp/m1" --n 3 --T 4 --out "$tmp/$name.vdmz" "$@" >"$tmp/$name.c.json" 2>"$tmp/$name.c.err" &&
       "$apps/vdm_decompress" --ckpt "$tmp/m1" --in "$tmp/$name.vdmz" --out "$tmp/$name.idx" --threads 1 \
           >"$tmp/$name.d.json" 2>"$tmp/$name.d.err"; then
        if [ "$(head -c 16 "$tmp/$name.idx" | od -An -tx1 | tr -d ' \n')" = "00000803000000030000001c0000001c" ] &&
           cmp -s <(tail -c +17 "$tmp/$name.idx") "$tmp/first3.bytes"; then
            pass "round trip ($name): $(tail -1 "$tmp/$name.c.json")"
        else
            fail "round trip ($name): the decompressed images differ"
        fi
    else
        fail "round trip ($name): $(tail -1 "$tmp/$name.c.err") $(tail -1 "$tmp/$name.d.err" 2>/dev/null)"
    fi
}
roundtrip raw --in "$images" --threads 2
gzip -c "$images" >"$tmp/images.gz"
roundtrip gzip --in "$tmp/images.gz" --threads 1 --bin 0.25 --seed 9
{ printf '\x00\x00\x08\x04'; be32 3; be32 1; be32 28; be32 28; tail -c +17 "$images" | head -c $((3 * 784)); } >"$tmp/nchw.idx"
roundtrip nchw --in "$tmp/nchw.idx"

# --skip: the last 3 of the 12 images
"$apps/vdm_compress" --ckpt "$tmp/m1" --in "$images" --skip 9 --T 4 --out "$tmp/last3.vdmz" >/dev/null 2>&1 &&
    "$apps/vdm_decompress" --ckpt "$tmp/m1" --in "$tmp/last3.vdmz" --out "$tmp/last3.idx" >/dev/null 2>&1 &&
    cmp -s <(tail -c +17 "$tmp/last3.idx") <(tail -c $((3 * 784)) "$images") &&
    pass "round trip of --skip 9: images 9-11" || fail "round trip of --skip 9"

last=$(tail -1 "$tmp/raw.c.json")
for key in '"images": 3' '"bytes": ' '"bits_per_dim": ' bits_per_dim_with_initial initial_bits bound_bpd gap '"T": 4' seconds; do
    [[ $last == *"$key"* ]] || fail "vdm_compress's last line lacks $key: $last"
done
last=$(tail -1 "$tmp/raw.d.json")
for key in '"images": 3' '"bytes": ' '"bits_per_dim": ' seconds; do
    [[ $last == *"$key"* ]] || fail "vdm_decompress's last line lacks $key: $last"
done
bytes=$(stat -c %s "$tmp/raw.vdmz")
[[ $last == *"\"bytes\": $bytes,"* ]] && pass "the reported size is the file's ($bytes bytes)" || fail "size: $last vs $bytes"

# --- files the decoder must refuse, and flags it must check
good=$tmp/raw.vdmz
expect_error vdm_decompress "another model" --ckpt "$tmp/m2" --in "$good" --out "$tmp/x.idx"
head -c $((bytes - 7)) "$good" >"$tmp/short.vdmz"
expect_error vdm_decompress "truncated" --ckpt "$tmp/m1" --in "$tmp/short.vdmz" --out "$tmp/x.idx"
for at in 30 $((bytes / 2)) $((bytes - 20)); do  # a flipped byte in the header, the stream, the end
    cp "$good" "$tmp/flip.vdmz"
    printf "\\x$(printf '%02x' $(( ($(od -An -tu1 -j "$at" -N1 "$good") + 1) % 256 )))" |
        dd of="$tmp/flip.vdmz" bs=1 seek="$at" conv=notrunc status=none
    expect_error vdm_decompress "checksum" --ckpt "$tmp/m1" --in "$tmp/flip.vdmz" --out "$tmp/x.idx"
done
expect_error vdm_decompress "not a vdm_compress file" --ckpt "$tmp/m1" --in "$images" --out "$tmp/x.idx"
expect_error vdm_decompress "cannot open" --ckpt "$tmp/m1" --in "$tmp/none.vdmz" --out "$tmp/x.idx"
[ ! -e "$tmp/x.idx" ] && pass "no output file after the errors" || fail "an output file was written"

write_idx "$tmp/small.idx" 2 14 14
expect_error vdm_compress "not the 1x28x28 images" --ckpt "$tmp/m1" --in "$tmp/small.idx" --out "$tmp/y.vdmz"
expect_error vdm_compress "exceed the 12 images" --ckpt "$tmp/m1" --in "$images" --n 13 --out "$tmp/y.vdmz"
expect_error vdm_compress "exceed the 12 images" --ckpt "$tmp/m1" --in "$images" --skip 10 --n 3 --out "$tmp/y.vdmz"
expect_error vdm_compress "leaves none" --ckpt "$tmp/m1" --in "$images" --skip 12 --out "$tmp/y.vdmz"
expect_error vdm_compress "no checkpoint" --ckpt "$tmp" --in "$images" --out "$tmp/y.vdmz"
[ ! -e "$tmp/y.vdmz" ] && pass "no compressed file after the errors" || fail "a compressed file was written"
exit $status
