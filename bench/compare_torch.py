#!/usr/bin/env python3
"""Our training step against PyTorch eager's on the same model, side by side.

The same ScoreNet (Fourier features, time-embedding MLP, ResNet blocks with
GroupNorm/SiLU, middle self-attention, no downsampling) and the same step (the
continuous-time VDM bound with the linear schedule, the 256-way discretized
decoder, backward, global-norm clipping, AdamW, EMA) at the same batch and thread
count. Rounds alternate: bench_vdm (ours), then PyTorch, so machine drift hits
both alike. Prints ms per step for each round and the ratio of the medians.

    /usr/bin/python3 bench/compare_torch.py [--bench build/release-cuda/bench_vdm]
        [--batch 64] [--threads 2] [--steps 5] [--rounds 3] [--attention on|off]

Needs Debian's python3-torch (apt-get install python3-torch); without it, says so
and exits 0. Nothing in the build depends on this script.
"""
import argparse
import glob
import json
import math
import os
import statistics
import subprocess
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("compare_torch: skipped: PyTorch is not installed (apt-get install python3-torch)")
    sys.exit(0)

GAMMA_MIN, GAMMA_MAX = -13.3, 5.0


def conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=(k - 1) // 2)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, cin), conv(cin, cout, 3)
        self.emb_proj = nn.Linear(emb, cout)
        self.norm2, self.conv2 = nn.GroupNorm(groups, cout), conv(cout, cout, 3)
        self.skip = conv(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x))) + self.emb_proj(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.q, self.k, self.v, self.proj = (conv(c, c, 1) for _ in range(4))

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(B, C, H * W) / math.sqrt(C)
        k, v = self.k(h).reshape(B, C, H * W), self.v(h).reshape(B, C, H * W)
        weights = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N_i, N_j)
        out = v @ weights.transpose(1, 2)                         # (B, C, N_i)
        return x + self.proj(out.reshape(B, C, H, W))


class ScoreNet(nn.Module):
    def __init__(self, channels, blocks, attention, groups=8):
        super().__init__()
        C, E = channels, 4 * channels
        self.channels = C
        self.emb1, self.emb2 = nn.Linear(C, E), nn.Linear(E, E)
        self.conv_in = conv(1 + 4, C, 3)  # z and sin/cos of 2^n pi z for n = 7, 8
        self.down = nn.ModuleList(ResnetBlock(C, C, E, groups) for _ in range(blocks))
        self.mid1, self.mid2 = ResnetBlock(C, C, E, groups), ResnetBlock(C, C, E, groups)
        self.attention = Attention(C, groups) if attention else None
        self.up = nn.ModuleList(ResnetBlock(2 * C, C, E, groups) for _ in range(blocks + 1))
        self.norm_out, self.conv_out = nn.GroupNorm(groups, C), conv(C, 1, 3)

    def forward(self, z, gamma):
        t = (gamma - GAMMA_MIN) / (GAMMA_MAX - GAMMA_MIN)
        half = self.channels // 2
        freqs = 1000.0 * torch.exp(-math.log(10000.0) * torch.arange(half) / (half - 1))
        phase = t[:, None] * freqs[None, :]
        emb = F.silu(self.emb2(F.silu(self.emb1(torch.cat([phase.sin(), phase.cos()], 1)))))
        features = [z]
        for n in (7, 8):
            features += [torch.sin(z * (math.pi * 2 ** n)), torch.cos(z * (math.pi * 2 ** n))]
        h = self.conv_in(torch.cat(features, 1))
        skips = [h]
        for block in self.down:
            h = block(h, emb)
            skips.append(h)
        h = self.mid1(h, emb)
        if self.attention is not None:
            h = self.attention(h)
        h = self.mid2(h, emb)
        for block in self.up:
            h = block(torch.cat([h, skips.pop()], 1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def vdm_loss(net, pixels):
    """The continuous-time bound in bits per dimension, mean over the batch."""
    B, D = pixels.shape[0], pixels[0].numel()
    x = 2.0 * (pixels.float() + 0.5) / 256.0 - 1.0
    gamma_0, gamma_1 = torch.tensor(GAMMA_MIN), torch.tensor(GAMMA_MAX)
    gamma_prime = GAMMA_MAX - GAMMA_MIN
    t = torch.remainder(torch.rand(()) + torch.arange(B) / B, 1.0)  # antithetic times
    gamma_t = GAMMA_MIN + gamma_prime * t
    eps = torch.randn_like(x)
    z_t = torch.sigmoid(-gamma_t).sqrt()[:, None, None, None] * x + \
        torch.sigmoid(gamma_t).sqrt()[:, None, None, None] * eps
    diffusion = 0.5 * gamma_prime * ((eps - net(z_t, gamma_t)) ** 2).sum((1, 2, 3))
    flat = x.reshape(B, D)
    prior = 0.5 * (torch.sigmoid(-gamma_1) * (flat ** 2 - 1) + F.softplus(-gamma_1)).sum(1)
    z_0 = torch.sigmoid(-gamma_0).sqrt() * flat + torch.sigmoid(gamma_0).sqrt() * torch.randn_like(flat)
    centres = 2.0 * (torch.arange(256) + 0.5) / 256.0 - 1.0
    logits = -0.5 * torch.exp(-gamma_0) * (z_0[:, :, None] / torch.sigmoid(-gamma_0).sqrt() - centres) ** 2
    log_probs = torch.log_softmax(logits, -1)
    recon = -log_probs.gather(-1, pixels.reshape(B, D, 1).long()).squeeze(-1).sum(1)
    return (prior + recon + diffusion).mean() / (D * math.log(2.0))


def torch_step_ms(args):
    torch.manual_seed(0)
    net = ScoreNet(args.channels, args.blocks, args.attention == "on")
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    pixels = torch.randint(0, 256, (args.batch, 1, 28, 28))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = vdm_loss(net, pixels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for shadow, p in zip(ema, net.parameters()):
                shadow.mul_(0.999).add_(p, alpha=0.001)

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    return 1e3 * (time.perf_counter() - start) / args.steps


def our_step_ms(args):
    cmd = [args.bench, "--batch", str(args.batch), "--threads", str(args.threads),
           "--steps", str(args.steps), "--channels", str(args.channels),
           "--blocks", str(args.blocks), "--attention", args.attention]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms_per_step"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", help="our bench_vdm (default: build/release*/bench_vdm, newest)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--attention", choices=["on", "off"], default="on")
    args = p.parse_args()
    if args.bench is None:
        built = sorted(glob.glob("build/release*/bench_vdm"), key=os.path.getmtime)
        if not built:
            sys.exit("compare_torch: no build/release*/bench_vdm: run `make build/release/bench_vdm` first")
        args.bench = built[-1]
    torch.set_num_threads(args.threads)
    print(f"{args.bench}: batch {args.batch}, {args.threads} threads, channels {args.channels}, blocks {args.blocks}, "
          f"attention {args.attention}; PyTorch {torch.__version__}; {args.steps} timed steps per round")
    ours, theirs = [], []
    for r in range(args.rounds):
        ours.append(our_step_ms(args))
        theirs.append(torch_step_ms(args))
        print(f"round {r + 1}: vdm.cpp {ours[-1]:.1f} ms/step, PyTorch eager {theirs[-1]:.1f} ms/step")
    ratio = statistics.median(theirs) / statistics.median(ours)
    print(f"median: vdm.cpp {statistics.median(ours):.1f} ms, PyTorch {statistics.median(theirs):.1f} ms; "
          f"vdm.cpp is {ratio:.2f}x PyTorch's speed")
    print(json.dumps({"ours_ms": ours, "torch_ms": theirs, "speedup": round(ratio, 3)}))


if __name__ == "__main__":
    main()
