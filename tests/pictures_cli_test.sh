#!/usr/bin/env bash
# train_mnist's pictures (apps/common/run_plots.h): curves.svg and schedule.svg in the
# run folder, redrawn at each evaluation, whole after a resume; and, where Debian's
# chromium is installed (.ci/run installs it), each SVG rendered headlessly to PNG and
# checked not to be blank, against a blank SVG that must fail the same check.
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh

tiny=(--data "$data" --channels 8 --blocks 1 --attention off --batch 4 --warmup 2 --eval-every 2
      --log-every 1 --val-n 4 --sample-n 0 --seed 3 --threads 1)
polylines() { grep -o '<polyline' "$1" | wc -l; }
points() {  # points SVG K: the number of points of the K-th polyline
    grep -o '<polyline[^>]*points="[^"]*"' "$1" | sed -n "${2}p" | sed -E 's/.*points="([^"]*)"/\1/' | wc -w
}

"$apps/train_mnist" "${tiny[@]}" --steps 3 --out "$tmp/run" >/dev/null 2>"$tmp/err" || fail "train: $(tail -1 "$tmp/err")"
"$apps/train_mnist" --resume "$tmp/run/checkpoint.safetensors" --data "$data" --steps 6 --out "$tmp/run" \
    --eval-every 2 --log-every 1 --val-n 4 --sample-n 0 --threads 1 >/dev/null 2>"$tmp/err" || fail "resume: $(tail -1 "$tmp/err")"
curves=$tmp/run/curves.svg schedule=$tmp/run/schedule.svg
[[ $(head -c 4 "$curves") == "<svg" ]] && [ "$(polylines "$curves")" -eq 5 ] \
    && pass "curves.svg: train and validation bpd and the three terms" || fail "curves.svg: $(polylines "$curves") polylines"
[ "$(points "$curves" 1)" -eq 6 ] && [ "$(points "$curves" 2)" -eq 4 ] \
    && pass "curves.svg after a resume holds all 6 training steps and 4 evaluations" \
    || fail "curves.svg points: train $(points "$curves" 1), validation $(points "$curves" 2)"
[ "$(polylines "$schedule")" -eq 2 ] && pass "schedule.svg: gamma and log SNR" || fail "schedule.svg: $(polylines "$schedule") polylines"
"$apps/train_mnist" "${tiny[@]}" --steps 2 --schedule learned --out "$tmp/learned" >/dev/null 2>&1
[ "$(polylines "$tmp/learned/schedule.svg")" -eq 3 ] && pass "a learned schedule is drawn beside the linear one" \
    || fail "learned schedule.svg: $(polylines "$tmp/learned/schedule.svg") polylines"

browser=$(command -v chromium || command -v chromium-browser)
if [ -z "$browser" ] || ! command -v python3 >/dev/null; then
    echo "skip: no chromium (or python3) to render the SVGs"
    exit $status
fi
# Distinct byte values of a PNG's decompressed pixel rows: a blank image has a handful.
distinct() {
    python3 - "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
at, idat = 8, b""
while at < len(data):
    n, kind = struct.unpack(">I4s", data[at:at + 8])
    if kind == b"IDAT":
        idat += data[at + 8:at + 8 + n]
    at += 12 + n
print(len(set(zlib.decompress(idat))))
PY
}
render() {  # render SVG PNG
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=660,420 \
        --screenshot="$2" "file://$1" >/dev/null 2>&1
}
printf '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400"></svg>' >"$tmp/blank.svg"
render "$tmp/blank.svg" "$tmp/blank.png"
blank=$(distinct "$tmp/blank.png" 2>/dev/null || echo none)
[[ $blank =~ ^[0-9]+$ ]] && [ "$blank" -lt 16 ] || fail "the blank SVG's screenshot: $blank distinct values (expected a few)"
for svg in "$curves" "$schedule"; do
    render "$svg" "$tmp/shot.png"
    n=$(distinct "$tmp/shot.png" 2>/dev/null || echo none)
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 16 ] && pass "$(basename "$svg") renders in chromium ($n distinct values, blank: $blank)" \
        || fail "$(basename "$svg") in chromium: $n distinct values (blank: $blank)"
done
exit $status
