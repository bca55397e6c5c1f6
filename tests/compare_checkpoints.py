#!/usr/bin/env python3
"""Compares two safetensors checkpoints tensor by tensor (no numpy needed).

    compare_checkpoints.py A B [--rtol R] [--keys-equal k1,k2,...]

Prints, per group of tensors (model, ema, adam_m, adam_v, ...), the largest absolute
difference and that difference relative to the group's largest magnitude, then one
line "max relative difference X". Exits 1 when a group's relative difference exceeds
--rtol, when the files hold different tensors or shapes, or when a metadata key named
by --keys-equal differs.
"""
import argparse
import json
import struct
import sys
from array import array

FORMATS = {"F32": "f", "F64": "d", "I64": "q"}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + length])
    meta = header.pop("__metadata__", {})
    data = blob[8 + length :]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        values = array(FORMATS[info["dtype"]])
        values.frombytes(data[begin:end])
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = (info["shape"], values)
    return meta, tensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--keys-equal", default="")
    args = parser.parse_args()
    meta_a, a = read(args.a)
    meta_b, b = read(args.b)
    ok = True
    for key in filter(None, args.keys_equal.split(",")):
        if meta_a.get(key) != meta_b.get(key):
            print(f"metadata {key}: {meta_a.get(key)} vs {meta_b.get(key)}")
            ok = False
    if sorted(a) != sorted(b):
        print("the files hold different tensors")
        return 1
    # Per group of tensors (model, ema, adam_m, adam_v, ...): the largest |a - b| and
    # the group's largest |b|. Relative to the group, not to each tensor: a bias
    # whose gradient cancels analytically holds rounding noise, and its own scale
    # would make any difference look large.
    groups = {}
    for name in sorted(a):
        (shape_a, va), (shape_b, vb) = a[name], b[name]
        if shape_a != shape_b:
            print(f"{name}: shape {shape_a} vs {shape_b}")
            ok = False
            continue
        g = groups.setdefault(name.split(".")[0], [0.0, 0.0, 0])
        g[0] = max(g[0], max((abs(x - y) for x, y in zip(va, vb)), default=0.0))
        g[1] = max(g[1], max((abs(y) for y in vb), default=0.0))
        g[2] += 1
    worst = 0.0
    for group, (diff, scale, count) in sorted(groups.items()):
        relative = diff / (scale or 1.0)
        worst = max(worst, relative)
        print(f"{group}: {count} tensors, max |a - b| {diff:.3g}, max |b| {scale:.3g}, relative {relative:.3g}")
        if relative > args.rtol:
            print(f"{group}: relative difference {relative:.3g} > {args.rtol:g}")
            ok = False
    print(f"max relative difference {worst:.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
