"""PyTorch CUDA eager on the shapes of native/tests/bench_cuda.cc, for
scripts/gpu-check.sh. Optional: run only when torch with CUDA imports.
Prints one 'torch <kernel> <ms> ms' line per kernel (median of N runs)."""
import sys
import time

import torch

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
dev = torch.device("cuda")


def median_ms(fn):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append((time.perf_counter() - a) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


# Patch similarity (SPEC §1), [512,256,768] against a goal [256,768], λ = 1.
T, N, D = 512, 256, 768
x = torch.randn(T, N, D, device=dev)
g = torch.randn(N, D, device=dev)


def sim():
    dot = (x * g).sum(-1)
    den = torch.clamp(x.norm(dim=-1) * g.norm(dim=-1), min=1e-8)
    l1 = (x - g).abs().sum(-1)
    return ((dot / den) * torch.exp(-l1 / D)).mean(-1)


ms = median_ms(sim)
print(f"torch patchSimilarity [512,256,768] {ms:.3f} ms ({4 * T * N * D / ms / 1e6:.1f} GB/s)")

# GAE (SPEC §6) time-major [T=512, B=16384], a Python loop over t (eager).
T2, B = 512, 16384
r = torch.zeros(T2, B, device=dev)
v = torch.zeros(T2, B, device=dev)
nv = torch.zeros(T2, B, device=dev)
term = torch.zeros(T2, B, device=dev, dtype=torch.uint8)
done = torch.zeros(T2, B, device=dev, dtype=torch.uint8)


def gae():
    gamma, lam = 0.99, 0.95
    delta = r + gamma * (1 - term.float()) * nv - v
    keep = gamma * lam * (1 - done.float())
    adv = torch.empty_like(r)
    a = torch.zeros(B, device=dev)
    for t in range(T2 - 1, -1, -1):
        a = delta[t] + keep[t] * a
        adv[t] = a
    return adv, adv + v


ms = median_ms(gae)
print(f"torch gae time-major [T=512,B=16384] {ms:.3f} ms ({22 * T2 * B / ms / 1e6:.1f} GB/s)")
