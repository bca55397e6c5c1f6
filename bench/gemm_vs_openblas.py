#!/usr/bin/env python3
"""Our cpu::gemm against OpenBLAS's cblas_sgemm at the shapes the default ScoreNet's
training step issues (channels 32, blocks 2, attention on, batch 64, 28x28).

    make BUILD_DIR=build/release build/release/bench_kernels   (or any build's bench_kernels)
    /usr/bin/python3 bench/gemm_vs_openblas.py [--bench build/release/bench_kernels]

Each shape runs with the same transposes, beta, tight leading dimensions and thread
count on both sides, alternating between the two so that other load on the machine
hits both alike. Each figure is the best over the rounds; inside a round, the fastest
of 50 batches of calls of about 1 ms each (bench_kernels --gemm does the same for
ours). What Python and ctypes add to each OpenBLAS call is measured (an M = 0 call)
and subtracted. OpenBLAS is only loaded here, through ctypes; nothing in the build
uses it. Without libopenblas the script says so and exits 0.

In the model the conv shapes run one image per thread (conv2d splits the batch across
threads, each gemm single-threaded), so their 1-thread column is the one that matters;
attention's shapes run with all threads. calls/step counts one training step at batch
64 (found by logging cpu::gemm in bench_vdm).
"""
import argparse
import array
import ctypes
import ctypes.util
import os
import random
import re
import subprocess
import sys
import time

# (what, calls per training step, M, N, K, trans_a, trans_b, beta)
SHAPES = [
    ("3x3 conv 32->32 forward", 704, 32, 784, 288, 0, 0, 1),
    ("3x3 conv 64->32 forward", 192, 32, 784, 576, 0, 0, 1),
    ("1x1 conv 64->32 forward", 192, 32, 784, 64, 0, 0, 1),
    ("1x1 conv 32->32 forward", 256, 32, 784, 32, 0, 0, 1),
    ("conv_in 5->32 forward", 64, 32, 784, 45, 0, 0, 1),
    ("conv_out 32->1 forward", 64, 1, 784, 288, 0, 0, 1),
    ("3x3 conv 32->32 d weight", 704, 32, 288, 784, 0, 1, 1),
    ("3x3 conv 64->32 d weight", 192, 32, 576, 784, 0, 1, 1),
    ("1x1 conv 64->32 d weight", 192, 32, 64, 784, 0, 1, 1),
    ("1x1 conv 32->32 d weight", 256, 32, 32, 784, 0, 1, 1),
    ("conv_in 5->32 d weight", 64, 32, 45, 784, 0, 1, 1),
    ("conv_out 32->1 d weight", 64, 1, 288, 784, 0, 1, 1),
    ("3x3 conv 32->32 d input", 704, 288, 784, 32, 1, 0, 0),
    ("3x3 conv 64->32 d input", 192, 576, 784, 32, 1, 0, 0),
    ("1x1 conv 64->32 d input", 192, 64, 784, 32, 1, 0, 0),
    ("1x1 conv 32->32 d input", 256, 32, 784, 32, 1, 0, 0),
    ("conv_out 32->1 d input", 64, 288, 784, 1, 1, 0, 0),
    ("attention q^T k (+ d weights)", 128, 784, 784, 32, 1, 0, 0),
    ("attention v w^T (+ d q)", 128, 32, 784, 784, 0, 1, 0),
    ("attention d v, d k", 128, 32, 784, 784, 0, 0, 0),
    ("square (not in the model)", 0, 512, 512, 512, 0, 0, 0),
]

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def load_openblas(max_threads):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max_threads))
    names = [ctypes.util.find_library("openblas"), "libopenblas.so.0", "libopenblas.so"]
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        c_int, c_float, ptr = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
        lib.cblas_sgemm.argtypes = [c_int, c_int, c_int, c_int, c_int, c_int, c_float, ptr, c_int,
                                    ptr, c_int, c_float, ptr, c_int]
        lib.cblas_sgemm.restype = None
        lib.openblas_set_num_threads.argtypes = [c_int]
        lib.openblas_get_config.restype = ctypes.c_char_p
        return lib
    return None


def random_floats(n, rng):
    data = array.array("f", (rng.gauss(0.0, 1.0) for _ in range(n)))
    return data, data.buffer_info()[0]


def best_ms(fn, reps, batches=50):
    """Fastest of `batches` batches of `reps` calls, per call, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps * 1e3)
    return best


def reps_for(flops):  # batches of about 1 ms at 50 GFLOP/s, as bench_kernels does
    return int(min(max(5e7 / flops, 1), 1e5))


class OpenBlasShape:
    def __init__(self, lib, m, n, k, ta, tb, beta, rng):
        self.lib, self.flops = lib, 2.0 * m * n * k
        self.a, self.pa = random_floats(m * k, rng)
        self.b, self.pb = random_floats(k * n, rng)
        self.c, self.pc = random_floats(m * n, rng)
        lda, ldb = (m if ta else k), (k if tb else n)
        self.args = (ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k, 1.0,
                     self.pa, lda, self.pb, ldb, float(beta), self.pc, n)

    def call(self):
        self.lib.cblas_sgemm(*self.args)

    def empty_call(self):  # returns at once (M = 0): what Python and ctypes add to each call
        self.lib.cblas_sgemm(*self.args[:3], 0, *self.args[4:])

    def gflops(self, threads, call_overhead_ms):
        self.lib.openblas_set_num_threads(threads)
        ms = best_ms(self.call, reps_for(self.flops)) - call_overhead_ms
        return self.flops / (ms * 1e6)


def ours_gflops(bench, m, n, k, ta, tb, beta, threads):
    out = subprocess.run([bench, "--threads", str(threads), "--gemm", f"{m},{n},{k},{ta},{tb},{beta}"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+) GFLOP/s", out).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default="build/release/bench_kernels", help="our bench_kernels binary")
    parser.add_argument("--threads", default="1,2", help="thread counts to compare, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best round counts")
    parser.add_argument("--only", default="", help="only shapes whose description contains this")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    lib = load_openblas(max(threads))
    if lib is None:
        print("gemm_vs_openblas: skipped, libopenblas not found (apt-get install libopenblas0-pthread)")
        return 0
    if not os.access(args.bench, os.X_OK):
        print(f"gemm_vs_openblas: {args.bench} not found; build it (make {args.bench}) or pass --bench")
        return 1
    print(f"OpenBLAS: {lib.openblas_get_config().decode()}; ours: {args.bench}")

    rng = random.Random(0)
    shapes = [s for s in SHAPES if args.only in s[0]]
    blas = {s: OpenBlasShape(lib, *s[2:], rng) for s in shapes}
    overhead_ms = best_ms(next(iter(blas.values())).empty_call, 1000)
    best = {}
    for _ in range(args.rounds):
        for s in shapes:
            for t in threads:
                ours = ours_gflops(args.bench, *s[2:], t)
                theirs = blas[s].gflops(t, overhead_ms)
                prev = best.get((s, t), (0.0, 0.0))
                best[(s, t)] = (max(prev[0], ours), max(prev[1], theirs))

    head = f"{'M x N x K, op, beta':<24} {'what':<30} {'calls/step':>10}"
    for t in threads:
        head += f" | {t} thr: ours  OpenBLAS  ratio"
    print(head)
    totals = {t: [0.0, 0.0] for t in threads}
    for s in shapes:
        what, calls, m, n, k, ta, tb, beta = s
        shape = f"{m}x{n}x{k} {'T' if ta else 'N'}{'T' if tb else 'N'} {beta}"
        line = f"{shape:<24} {what:<30} {calls:>10}"
        for t in threads:
            ours, theirs = best[(s, t)]
            line += f" | {ours:10.1f} {theirs:9.1f} {ours / theirs:6.2f}"
            flops = 2.0 * m * n * k * calls
            totals[t][0] += flops / (ours * 1e6)
            totals[t][1] += flops / (theirs * 1e6)
        print(line)
    for t in threads:
        ours_ms, theirs_ms = totals[t]
        print(f"{t} thread(s): a training step's calls of these shapes, one after another, take "
              f"ours {ours_ms:.1f} ms, OpenBLAS {theirs_ms:.1f} ms (speed ratio {theirs_ms / ours_ms:.2f})")
    print("GFLOP/s, best of the rounds; ratio = ours / OpenBLAS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
