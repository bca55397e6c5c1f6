#!/usr/bin/env bash
# Bits per dimension of general-purpose lossless codecs on the first N images of an
# IDX file (raw or .gz), to set beside vdm_compress on the same images:
#   gzip -9, xz -9, bzip2 -9 of the raw pixel bytes (all N images in one stream);
#   PNG, each image its own 8-bit greyscale file (the sum of the file sizes), and all N
#   images stacked in one tall PNG; written by the small encoder below (each row takes
#   the PNG filter with the least sum of absolute values, as libpng does, then zlib -9).
# Prints markdown table rows: codec | bytes | bits per dimension.
# usage: bash scripts/compression_baselines.sh IMAGES_IDX N
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 IMAGES_IDX N" >&2; exit 1; }
in=$1 n=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$in" "$n" "$tmp" <<'PY'
import gzip, struct, sys, zlib
path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = (gzip.open(path) if path.endswith(".gz") else open(path, "rb")).read()
if data[:2] != b"\0\0" or data[2] != 8:
    sys.exit(f"{path}: not an IDX file of unsigned bytes")
ndim = data[3]
dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
rows, cols = dims[-2], dims[-1]
size = rows * cols * (dims[1] if ndim == 4 else 1)
if ndim not in (3, 4) or (ndim == 4 and dims[1] != 1) or n > dims[0]:
    sys.exit(f"{path}: expected at least {n} greyscale images (N, H, W)")
pixels = data[4 + 4 * ndim:4 + 4 * ndim + n * size]
open(f"{out}/pixels.raw", "wb").write(pixels)

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

def png(image, height, width):
    lines, previous = [], bytes(width)
    for r in range(height):
        row = image[r * width:(r + 1) * width]
        candidates = []
        for kind in range(5):
            f = bytearray()
            for c in range(width):
                a = row[c - 1] if c else 0
                b, d = previous[c], previous[c - 1] if c else 0
                pred = [0, a, b, (a + b) // 2, 0][kind]
                if kind == 4:
                    p = a + b - d
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - d)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else d)
                f.append((row[c] - pred) % 256)
            candidates.append((sum(v if v < 128 else 256 - v for v in f), kind, f))
        _, kind, f = min(candidates)
        lines.append(bytes([kind]) + bytes(f))
        previous = row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(b"".join(lines), 9)) + chunk(b"IEND", b""))

each = sum(len(png(pixels[k * size:(k + 1) * size], rows, cols)) for k in range(n))
stacked = len(png(pixels, n * rows, cols))
open(f"{out}/png.txt", "w").write(f"{each} {stacked}\n")
PY

dims=$(stat -c %s "$tmp/pixels.raw")
row() { awk -v name="$1" -v bytes="$2" -v d="$dims" 'BEGIN { printf "| %s | %d | %.4f |\n", name, bytes, 8 * bytes / d }'; }
row "raw pixels" "$dims"
row "gzip -9" "$(gzip -9 -c "$tmp/pixels.raw" | wc -c)"
row "bzip2 -9" "$(bzip2 -9 -c "$tmp/pixels.raw" | wc -c)"
row "xz -9" "$(xz -9 -c "$tmp/pixels.raw" | wc -c)"
read -r each stacked <"$tmp/png.txt"
row "PNG, one file per image" "$each"
row "PNG, all images in one" "$stacked"
