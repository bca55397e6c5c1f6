# Shared by the script tests of the apps (tests/*_cli_test.sh), sourced after
# `cd` to the repo root: the app folder, a temp folder removed at exit, pass/fail
# bookkeeping ($status), expect_error, and a tiny synthetic IDX dataset in $data
# (40 training and 12 test images, 28x28: discs of varying radius; labels 0..9).
apps=${VDM_APP_DIR:-.}  # make test sets the variant's app folder
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

fail() { echo "FAIL: $*"; status=1; }
pass() { echo "ok: $*"; }

expect_error() {  # expect_error APP KEYWORD ARGS...: one-line error containing KEYWORD, exit 1
    local app=$1 keyword=$2; shift 2
    local err rc
    err=$("$apps/$app" "$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" -ne 1 ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ $err != *"$keyword"* ]]; then
        fail "$app $* -> exit $rc, stderr: $err"
    else
        pass "$app $* -> $err"
    fi
}

be32() {  # a big-endian u32
    local h
    h=$(printf '%08x' "$1")
    printf "\\x${h:0:2}\\x${h:2:2}\\x${h:4:2}\\x${h:6:2}"
}

# IDX file: magic (type 0x08 = ubyte, ndims), big-endian dims, then the bytes of a
# deterministic pattern (pixels, or labels 0..9).
write_idx() {  # write_idx FILE COUNT [ROWS COLS]
    local file=$1 count=$2
    if [ $# -eq 4 ]; then
        { printf '\x00\x00\x08\x03'; be32 "$count"; be32 "$3"; be32 "$4"; } >"$file"
        LC_ALL=C awk -v n=$((count * $3 * $4)) 'BEGIN { for (i = 0; i < n; i++) {
            p = i % 784; r = int(p / 28); c = p % 28; k = int(i / 784);
            v = ((r - 14) ^ 2 + (c - 14) ^ 2 < 40 + 5 * (k % 7)) ? 255 - k % 50 : k % 3;
            printf "%c", v } }' >>"$file"
    else
        { printf '\x00\x00\x08\x01'; be32 "$count"; } >"$file"
        LC_ALL=C awk -v n="$count" 'BEGIN { for (i = 0; i < n; i++) printf "%c", i % 10 }' >>"$file"
    fi
}
data=$tmp/data
mkdir -p "$data"
write_idx "$data/train-images-idx3-ubyte" 40 28 28
write_idx "$data/train-labels-idx1-ubyte" 40
write_idx "$data/t10k-images-idx3-ubyte" 12 28 28
write_idx "$data/t10k-labels-idx1-ubyte" 12
