#!/usr/bin/env bash
# The first-run download (apps/common/data_flags.h, scripts/download_data.sh): with no
# data, no --data and no $VDM_DATA, an app fetches the dataset into ./data/<dataset>/
# from $VDM_DATA_URL, here a local HTTP server over the real files. A corrupted file on
# the server is refused, an unreachable server and --no-download are one line of error
# with the manual command.
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh
real=${VDM_DATA:-data}/mnist
if [ ! -f "$real/train-images-idx3-ubyte.gz" ] || ! command -v python3 >/dev/null || ! command -v curl >/dev/null; then
    echo "SKIP: needs the MNIST files under \$VDM_DATA/mnist, python3 and curl"
    exit 0
fi
apps=$(cd "$apps" && pwd)

# Two sites: the real files, and the same with one byte of a labels file changed.
for site in good corrupt; do
    mkdir -p "$tmp/www-$site/mnist"
    for f in "$real"/*-ubyte.gz; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$tmp/www-$site/mnist/"; done
done
labels=$tmp/www-corrupt/mnist/t10k-labels-idx1-ubyte.gz
rm "$labels"
cp "$real/t10k-labels-idx1-ubyte.gz" "$labels"
printf '\x01' | dd of="$labels" bs=1 seek=100 conv=notrunc 2>/dev/null

serve() {  # serve DIR: an HTTP server on loopback; sets $url and $server
    local port
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 20000))
        python3 -m http.server --bind 127.0.0.1 --directory "$1" "$port" >/dev/null 2>&1 &
        server=$!
        for _ in $(seq 50); do
            curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && { url=http://127.0.0.1:$port; return 0; }
            kill -0 $server 2>/dev/null || break
            sleep 0.1
        done
        kill $server 2>/dev/null
    done
    return 1
}

tiny=(--channels 8 --blocks 1 --attention off --batch 4 --steps 1 --eval-every 0 --val-n 4 --sample-n 0 --threads 1)
run_fresh() {  # run_fresh NAME URL ARGS...: train_mnist in an empty folder, no VDM_DATA
    local name=$1 base=$2; shift 2
    mkdir -p "$tmp/$name"
    (cd "$tmp/$name" && env -u VDM_DATA VDM_DATA_URL="$base" "$apps/train_mnist" "$@" >/dev/null 2>"$tmp/$name.err")
}

serve "$tmp/www-good" || { fail "no HTTP server on loopback"; exit 1; }
if run_fresh fetch "$url" "${tiny[@]}" --out run && grep -q "^no mnist data in ./data/mnist: fetching it with" "$tmp/fetch.err" \
    && bash scripts/download_data.sh --verify "$tmp/fetch/data/mnist" mnist >/dev/null; then
    pass "a first run fetched MNIST into ./data/mnist, md5-verified, and trained"
else
    fail "first-run fetch: $(tail -2 "$tmp/fetch.err")"
fi
# A second run finds the files and fetches nothing.
run_fresh fetch "$url" "${tiny[@]}" --out run2 && ! grep -q fetching "$tmp/fetch.err" \
    && pass "the next run uses the fetched files" || fail "second run: $(tail -1 "$tmp/fetch.err")"
kill $server

serve "$tmp/www-corrupt" || { fail "no HTTP server on loopback"; exit 1; }
run_fresh corrupt "$url" "${tiny[@]}"
rc=$?
last=$(tail -1 "$tmp/corrupt.err")
if [ $rc -eq 1 ] && grep -q "^download failed: $url/mnist/t10k-labels-idx1-ubyte.gz (bad checksum" "$tmp/corrupt.err" \
    && [[ $last == "error: downloading mnist failed (see above); retry with 'bash scripts/download_data.sh mnist'"* ]] \
    && [ ! -e "$tmp/corrupt/data/mnist/t10k-labels-idx1-ubyte.gz" ] && [ ! -e "$tmp/corrupt/data/mnist/t10k-labels-idx1-ubyte.gz.part" ]; then
    pass "a corrupted file is refused and not kept: $last"
else
    fail "corrupted download: exit $rc, $(tail -3 "$tmp/corrupt.err")"
fi
kill $server

run_fresh unreachable http://127.0.0.1:1 "${tiny[@]}"
rc=$?
last=$(tail -1 "$tmp/unreachable.err")
failed=$(grep -c "^download failed: http://127.0.0.1:1/mnist/train-images-idx3-ubyte.gz (curl: " "$tmp/unreachable.err")
[ $rc -eq 1 ] && [ "$failed" -eq 1 ] && [[ $last == *"retry with 'bash scripts/download_data.sh mnist'"* ]] \
    && pass "an unreachable server: $(grep '^download failed' "$tmp/unreachable.err") / $last" \
    || fail "unreachable server: exit $rc, $(tail -3 "$tmp/unreachable.err")"

run_fresh refuse http://127.0.0.1:1 "${tiny[@]}" --no-download
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/refuse.err")" -eq 1 ] \
    && [[ $(cat "$tmp/refuse.err") == "error: no mnist data in ./data/mnist (--no-download): get it with 'bash scripts/download_data.sh mnist'"* ]] \
    && pass "--no-download: $(cat "$tmp/refuse.err")" || fail "--no-download: exit $rc, $(cat "$tmp/refuse.err")"
exit $status
