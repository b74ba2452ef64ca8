"""The computations of bench/torch.ts in Python PyTorch, for comparison.

Usage: python3 bench/torch_ref.py <threads> <min_seconds>
Prints one JSON line: {"torch": version, "ppo_ms": ..., "value_ms": ...}.
Or: python3 bench/torch_ref.py <threads> serve — after a JSON line, times
one call per stdin line "ppo" / "value" / "bb_head" / "bb_joint" and prints its ms and minor page
faults (interleaving).
Same shapes, ops, optimizer and metrics as feat2go's PpoTrainer.update and
ValueHead.trainStep (SPEC §4, §8, §9), and one epoch of ImageValueModel.fit.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1])
serve = len(sys.argv) > 2 and sys.argv[2] == "serve"
min_s = float(sys.argv[2]) if len(sys.argv) > 2 and not serve else 1.0
torch.set_num_threads(threads)
torch.manual_seed(0)
LOG2PI = math.log(2 * math.pi)


class Lin:
    def __init__(self, i, o, gain):
        self.w = torch.empty(o, i)
        torch.nn.init.orthogonal_(self.w, gain)
        self.b = torch.zeros(o)
        self.A = None

    def add_lora(self, r, alpha):
        self.A = torch.empty(r, self.w.shape[1])
        torch.nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = torch.randn(self.w.shape[0], r) * 0.01  # as after some training
        self.scale = alpha / r
        self.A.requires_grad_(True)
        self.B.requires_grad_(True)

    def __call__(self, x):
        y = F.linear(x, self.w, self.b)
        if self.A is not None:
            y = y + F.linear(F.linear(x, self.A), self.B) * self.scale
        return y


def ppo_case():
    O, Hd, A, N = 64, 256, 8, 4096
    trunk = [Lin(O, Hd, math.sqrt(2)), Lin(Hd, Hd, math.sqrt(2))]
    mean = Lin(Hd, A, 0.01)
    log_std = torch.zeros(A, requires_grad=True)
    critic = [Lin(O, Hd, math.sqrt(2)), Lin(Hd, Hd, math.sqrt(2)), Lin(Hd, 1, 1.0)]
    for l in trunk + [mean]:
        l.add_lora(16, 32)
    for l in critic:
        l.w.requires_grad_(True)
        l.b.requires_grad_(True)
    actor_params = [p for l in trunk + [mean] for p in (l.A, l.B)] + [log_std]
    critic_params = [p for l in critic for p in (l.w, l.b)]
    opt = torch.optim.AdamW([{"params": actor_params, "lr": 3e-4}, {"params": critic_params, "lr": 1e-3}], lr=3e-4, weight_decay=0.0)
    params = actor_params + critic_params

    def evaluate(obs, act):
        h = obs
        for l in trunk:
            h = torch.tanh(l(h))
        mu = mean(h)
        ls = log_std.expand_as(mu)
        z = (act - mu) * torch.exp(-ls)
        logp = (-0.5 * z * z - ls - 0.5 * LOG2PI).sum(-1)
        ent = (0.5 + 0.5 * LOG2PI + ls).sum(-1)
        v = obs
        for i, l in enumerate(critic):
            v = l(v)
            if i + 1 < len(critic):
                v = torch.tanh(v)
        return logp, ent, v.squeeze(-1)

    g = torch.Generator().manual_seed(1)
    obs = torch.randn(N, 1, O, generator=g)
    act = torch.randn(N, 1, A, generator=g)
    with torch.no_grad():
        old = evaluate(obs.view(N, O), act.view(N, A))[0].view(N, 1) + 0.1 * torch.randn(N, 1, generator=g)
    adv = torch.randn(N, 1, generator=g)
    ret = torch.randn(N, 1, generator=g)
    clip, vcoef, ecoef, max_norm = 0.2, 0.5, 0.0, 0.5
    perm_gen = torch.Generator().manual_seed(0)

    def update():
        for _ in range(4):
            perm = torch.randperm(N, generator=perm_gen)
            for k in range(4):
                idx = perm[N * k // 4:N * (k + 1) // 4]
                b = idx.shape[0]
                o, a = obs.index_select(0, idx), act.index_select(0, idx)
                olp, ad, rt = old.index_select(0, idx), adv.index_select(0, idx), ret.index_select(0, idx)
                m = torch.ones(b, 1)
                logp, ent, v = evaluate(o.reshape(b, -1), a.reshape(b, -1))
                logp = logp.view(b, 1)
                lr_ = logp - olp
                ratio = torch.exp(lr_)
                s1 = ratio * ad
                s2 = torch.clamp(ratio, 1 - clip, 1 + clip) * ad
                l = -torch.min(s1, s2)
                msum = m.sum().clamp_min(1.0)
                pg = (l * m).sum() / msum
                e = (ent.view(b, 1) * m).sum() / msum
                total = pg - ecoef * e
                vl = 0.5 * (((v.view(b, 1) - rt) ** 2) * m).sum() / msum
                total = total + vcoef * vl
                vl.item()
                with torch.no_grad():
                    pg.item(); e.item()
                    (((s2 < s1).float()) * m).sum().item() / msum.item()
                    (((ratio - 1) - lr_) * m).sum().item() / msum.item()
                    total.item()
                opt.zero_grad()
                total.backward()
                torch.nn.utils.clip_grad_norm_(params, max_norm)
                opt.step()

    return update


def value_case():
    H, Hh, nb, B = 2560, 512, 201, 256
    w1 = torch.empty(Hh, H); torch.nn.init.orthogonal_(w1)
    w2 = torch.empty(nb, Hh); torch.nn.init.orthogonal_(w2)
    ps = [w1, torch.zeros(Hh), torch.ones(Hh), torch.zeros(Hh), w2, torch.zeros(nb)]
    for p in ps:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(2)
    h = torch.randn(B, H, generator=g)
    v = torch.rand(B, generator=g)
    pos = v * (nb - 1)
    lo = pos.floor().clamp(max=nb - 2).long()
    w = pos - lo
    t = torch.zeros(B, nb)
    t.scatter_add_(1, lo[:, None], (1 - w)[:, None])
    t.scatter_add_(1, lo[:, None] + 1, w[:, None])

    def step():
        x = F.linear(h, ps[0], ps[1])
        x = F.layer_norm(x, (Hh,), ps[2], ps[3], 1e-5)
        x = F.gelu(x)
        logits = F.linear(x, ps[4], ps[5])
        opt.zero_grad()
        loss = -(t * F.log_softmax(logits, -1)).sum(-1).mean()
        loss.backward()
        opt.step()
        loss.item()

    return step


def backbone_case(joint):
    """ImageValueModel.fit for one epoch over N RGB frames 64x64 (uint8 NHWC),
    minibatches of 128, default ConvBackbone (16 k4s4, 32 k3s2 p1, 32 k3s1 p1,
    ReLU, flatten, Linear 2048->64, LayerNorm, tanh), value head 64->128->201,
    two-hot cross-entropy, AdamW (two groups), the default augmentation
    (shift 4 by edge padding and crop, contrast/brightness 0.2, gain 0.1);
    channels-last convolutions, as feat2go runs them."""
    N, S, B, E, Hh, nb = 1024, 64, 128, 64, 128, 201
    g = torch.Generator().manual_seed(3)
    convs = [torch.nn.Conv2d(3, 16, 4, 4, 0), torch.nn.Conv2d(16, 32, 3, 2, 1), torch.nn.Conv2d(32, 32, 3, 1, 1)]
    for c in convs:
        torch.nn.init.orthogonal_(c.weight, math.sqrt(2))
        torch.nn.init.zeros_(c.bias)
        c.to(memory_format=torch.channels_last)  # PyTorch's faster CPU layout, as feat2go uses
    proj = torch.nn.Linear(32 * 8 * 8, E)
    norm = torch.nn.LayerNorm(E)
    head = torch.nn.Sequential(torch.nn.Linear(E, Hh), torch.nn.LayerNorm(Hh), torch.nn.GELU(), torch.nn.Linear(Hh, nb))
    backbone = [p for m in convs + [proj, norm] for p in m.parameters()]
    opt = torch.optim.AdamW([{"params": backbone, "lr": 1e-3}, {"params": list(head.parameters()), "lr": 1e-3}],
                            lr=1e-3, weight_decay=0.01)
    frames = torch.randint(0, 256, (N, S, S, 3), dtype=torch.uint8, generator=g)
    v = torch.rand(N, generator=g)
    pos = v * (nb - 1)
    lo = pos.floor().clamp(max=nb - 2).long()
    w = pos - lo
    t = torch.zeros(N, nb)
    t.scatter_add_(1, lo[:, None], (1 - w)[:, None])
    t.scatter_add_(1, lo[:, None] + 1, w[:, None])
    shift = 4

    def embed(x):
        for c in convs:
            x = F.relu(c(x))
        return torch.tanh(norm(proj(x.flatten(1))))

    ar = torch.arange(S)

    def augment(idx):
        # the shift as one gather with clamped (edge-padded) coordinates, on the
        # bytes; [n, S, S, 3] memory = channels last
        n = idx.shape[0]
        d = torch.randint(-shift, shift + 1, (n, 2), generator=g)
        rows = (ar[None, :] + d[:, 1:2]).clamp_(0, S - 1)
        cols = (ar[None, :] + d[:, 0:1]).clamp_(0, S - 1)
        img = frames.index_select(0, idx)
        x = img[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].float().div_(255).permute(0, 3, 1, 2)
        u = torch.rand(n, 5, generator=g) * 2 - 1
        m = x.mean((1, 2, 3), keepdim=True)
        c = (1 + 0.2 * u[:, 0]).view(n, 1, 1, 1)
        bg = (1 + 0.2 * u[:, 1]).view(n, 1, 1, 1) * (1 + 0.1 * u[:, 2:5]).view(n, 3, 1, 1)
        return (((x - m) * c + m) * bg).clamp_(0, 1).contiguous(memory_format=torch.channels_last)

    def epoch():
        perm = torch.randperm(N, generator=g)
        for s in range(0, N, B):
            idx = perm[s:s + B]
            x = augment(idx)
            if joint:
                h = embed(x)
            else:
                with torch.no_grad():
                    h = embed(x)
            loss = -(t.index_select(0, idx) * F.log_softmax(head(h), -1)).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()

    return epoch


def timeit(fn):
    """Median of per-call times over at least 5 calls and min_s seconds."""
    fn()  # warm-up
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_s:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


if serve:
    # Interleaved mode (bench/torch.ts): one warm-up each, then one line per
    # request "ppo" / "value" on stdin, answered with that call's time in ms,
    # so that both sides' calls alternate under the same background load.
    cases = {"ppo": ppo_case(), "value": value_case(), "bb_head": backbone_case(False), "bb_joint": backbone_case(True)}
    for fn in cases.values():
        fn()
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}), flush=True)
    import resource
    for line in sys.stdin:
        fn = cases[line.strip()]
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        fn()
        ms = (time.perf_counter() - t0) * 1e3
        print(ms, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0, flush=True)
else:
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "ppo_ms": timeit(ppo_case()), "value_ms": timeit(value_case())}))
