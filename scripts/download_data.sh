#!/usr/bin/env bash
# Downloads MNIST and/or Fashion-MNIST (4 IDX .gz files each) into DEST/<dataset>/
# and checks their md5 sums; or, with --verify, only checks files already there.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: bash scripts/download_data.sh [mnist|fashion-mnist|all] [DEST]   (default: all ./data)
       bash scripts/download_data.sh --verify DIR mnist|fashion-mnist
Downloads into DEST/<dataset>/ and checks md5 sums; --verify only checks DIR's files.
Training finds the files with --data DIR, or VDM_DATA=DEST, or in ./data by default.
VDM_DATA_URL=URL fetches URL/<dataset>/<file> instead of the public mirrors.
EOF
    exit "${1:-2}"
}

FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

# "fashion" is accepted as a short name, as the C++ loader does.
canonical_name() {
    case $1 in
        mnist) echo mnist ;;
        fashion-mnist | fashion) echo fashion-mnist ;;
        *) echo "unknown dataset '$1': expected mnist or fashion-mnist" >&2; usage ;;
    esac
}

base_url() {
    if [ -n "${VDM_DATA_URL:-}" ]; then
        echo "${VDM_DATA_URL%/}/$1"
        return
    fi
    case $1 in
        mnist) echo https://ossci-datasets.s3.amazonaws.com/mnist ;;
        fashion-mnist) echo http://fashion-mnist.s3-website.eu-central-1.amazonaws.com ;;
    esac
}

# The published md5 of each .gz file.
expected_md5() {
    case $1/$2 in
        mnist/train-images-idx3-ubyte.gz) echo f68b3c2dcbeaaa9fbdd348bbdeb94873 ;;
        mnist/train-labels-idx1-ubyte.gz) echo d53e105ee54ea40749a09fcbcd1e9432 ;;
        mnist/t10k-images-idx3-ubyte.gz) echo 9fb629c4189551a2d022fa330f9573f3 ;;
        mnist/t10k-labels-idx1-ubyte.gz) echo ec29112dd5afa0611ce80d1b7f02629c ;;
        fashion-mnist/train-images-idx3-ubyte.gz) echo 8d4fb7e6c68d591d4c3dfef9ec88bf0d ;;
        fashion-mnist/train-labels-idx1-ubyte.gz) echo 25c81989df183df01b3e8a0aad5dffbe ;;
        fashion-mnist/t10k-images-idx3-ubyte.gz) echo bef4ecab320f06d8554ea6380940ec79 ;;
        fashion-mnist/t10k-labels-idx1-ubyte.gz) echo bb300cfdad3c16e7a12a480ee83cd310 ;;
    esac
}

md5_of() {
    if command -v md5sum >/dev/null; then md5sum "$1" | cut -d' ' -f1; else md5 -q "$1"; fi
}

# Succeeds if path holds the right bytes for file of dataset; else says why.
check_file() {  # path dataset file
    local sum want
    if [ ! -f "$1" ]; then
        echo "missing: $1" >&2
        return 1
    fi
    sum=$(md5_of "$1")
    want=$(expected_md5 "$2" "$3")
    if [ "$sum" != "$want" ]; then
        echo "bad checksum: $1 (md5 $sum, expected $want)" >&2
        return 1
    fi
}

verify() {  # dir dataset
    local file bad=0
    for file in "${FILES[@]}"; do
        check_file "$1/$file" "$2" "$file" || bad=1
    done
    if [ "$bad" -ne 0 ]; then
        echo "verify: $2 in $1 FAILED" >&2
        return 1
    fi
    echo "verify: $2 in $1 OK"
}

# Fetches url to path through a temporary file, renamed only once its md5 is right.
# A failure is one line: the url and why.
fetch() {  # url path dataset file
    local tmp="$2.part" get why
    if command -v curl >/dev/null; then
        get=(curl -fsSL --connect-timeout 20 --retry 2 -o "$tmp" "$1")
    elif command -v wget >/dev/null; then
        get=(wget -q -T 20 -O "$tmp" "$1")
    else
        echo "need curl or wget to download $1" >&2
        return 1
    fi
    if ! why=$("${get[@]}" 2>&1); then
        rm -f "$tmp"
        why=${why//$'\n'/; }
        echo "download failed: $1 (${why:-${get[0]} failed})" >&2
        return 1
    fi
    if ! why=$(check_file "$tmp" "$3" "$4" 2>&1); then
        rm -f "$tmp"
        echo "download failed: $1 ($why)" >&2
        return 1
    fi
    mv "$tmp" "$2"
}

download() {  # dataset dest
    local dir="$2/$1" file
    mkdir -p "$dir"
    for file in "${FILES[@]}"; do
        if check_file "$dir/$file" "$1" "$file" 2>/dev/null; then
            echo "have $dir/$file"
        else
            echo "downloading $(base_url "$1")/$file"
            fetch "$(base_url "$1")/$file" "$dir/$file" "$1" "$file"
        fi
    done
    verify "$dir" "$1"
}

if [ "${1:-}" = "--verify" ]; then
    [ $# -eq 3 ] || usage
    name=$(canonical_name "$3")
    verify "$2" "$name"
    exit
fi
[ $# -le 2 ] || usage
case ${1:-all} in
    -h | --help) usage 0 ;;
    all) names=(mnist fashion-mnist) ;;
    *) name=$(canonical_name "$1"); names=("$name") ;;
esac
for name in "${names[@]}"; do
    download "$name" "${2:-./data}"
done
