#!/usr/bin/env bash
# scripts/download_data.sh --verify: passes on the real MNIST and Fashion-MNIST
# files, and fails naming the file when one is corrupted, truncated or missing.
set -euo pipefail
cd "$(dirname "$0")/.."
script=scripts/download_data.sh
data=${VDM_DATA:-../shared/data}
if [ ! -d "$data/mnist" ] || [ ! -d "$data/fashion-mnist" ]; then
    echo "SKIP: no mnist and fashion-mnist folders under $data"
    exit 0
fi

bash "$script" --verify "$data/mnist" mnist
bash "$script" --verify "$data/fashion-mnist" fashion-mnist

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source_dir=$(cd "$data/mnist" && pwd)
labels=t10k-labels-idx1-ubyte.gz

# A fresh copy of the MNIST folder: links to the real files, except a copied labels file.
fresh_copy() {
    rm -rf "$tmp/mnist"
    mkdir "$tmp/mnist"
    ln -s "$source_dir"/*.gz "$tmp/mnist/"
    rm "$tmp/mnist/$labels"
    cp "$source_dir/$labels" "$tmp/mnist/$labels"
}

# Verify must fail and name the file.
expect_failure() {  # what
    local out
    if out=$(bash "$script" --verify "$tmp/mnist" mnist 2>&1); then
        echo "FAIL: verify passed on a $1 $labels"
        exit 1
    fi
    if ! grep -qF "$labels" <<<"$out"; then
        echo "FAIL: verify on a $1 file did not name $labels: $out"
        exit 1
    fi
    echo "ok: verify fails on a $1 file"
}

fresh_copy
bash "$script" --verify "$tmp/mnist" mnist >/dev/null

fresh_copy  # flip every bit of byte 100
byte=$(od -An -tu1 -j 100 -N 1 "$tmp/mnist/$labels" | tr -d ' ')
printf '%b' "\\0$(printf '%03o' $((byte ^ 255)))" |
    dd of="$tmp/mnist/$labels" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_failure corrupted

fresh_copy  # drop the last byte
size=$(wc -c <"$tmp/mnist/$labels")
head -c $((size - 1)) "$source_dir/$labels" >"$tmp/mnist/$labels"
expect_failure truncated

fresh_copy
rm "$tmp/mnist/$labels"
expect_failure missing
