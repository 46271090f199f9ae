"""Plain reference implementations of each operator's formula: whole tensors, float64, no chunking,
sorts and Python loops where that is the obvious way. Randomness is re-derived element by element
from rng.hash_reference (pure Python), so the kernels' masks are checked bit for bit too.
"""

from __future__ import annotations

import itertools
import math

import torch

from merge_kernels import rng
from merge_kernels.rng import Key


def key(seed: int, op_index: int, stream: str, task: int = 0) -> Key:
    return Key(seed, (op_index, stream, task))


def lane(k: Key, e: int) -> int:
    """Signed 16-bit lane of element e (lane e & 1 of hash(e >> 1))."""
    h = rng.hash_reference(k, e >> 1)
    v = (h >> (16 * (e & 1))) & 0xFFFF
    return v - 65536 if v >= 32768 else v


def bernoulli(k: Key, n: int, p: float) -> torch.Tensor:
    t = rng.lane_threshold(p)
    return torch.tensor([1.0 if lane(k, e) < t else 0.0 for e in range(n)], dtype=torch.float64)


def uniform(k: Key, n: int) -> torch.Tensor:
    return torch.tensor([((rng.hash_reference(k, e) >> 8) + 0.5) / 2 ** 24 for e in range(n)], dtype=torch.float64)


def linear(xs, w, normalize=True):
    s = sum(w) if normalize else 1.0
    return sum(wi * x.double() for wi, x in zip(w, xs)) / s


def slerp(a, b, t, thr=0.9995, eps=1e-8):
    out = []
    for va, vb in zip(a.double().flatten(1), b.double().flatten(1)):
        na, nb = va.norm(), vb.norm()
        ua = va / na if na > eps else va
        ub = vb / nb if nb > eps else vb
        dot = (ua * ub).sum()
        if dot.abs() > thr:
            out.append((1 - t) * va + t * vb)
            continue
        th = torch.arccos(dot)
        out.append(torch.sin(th - th * t) / torch.sin(th) * va + torch.sin(th * t) / torch.sin(th) * vb)
    return torch.stack(out).view(a.shape)


def multislerp(xs, w, base=None, eps=1e-8):
    """mergekit's multislerp applied to each frame vector."""
    w = torch.tensor(w, dtype=torch.float64)
    w = w / w.sum()
    frames = []
    T = xs[0].shape[0]
    for t in range(T):
        X = torch.stack([x[t].double().flatten() for x in xs])
        if base is not None:
            X = X - base[t].double().flatten()
        norms = X.norm(dim=-1, keepdim=True)
        unit = X / (norms + eps)
        mean = (unit * w.view(-1, 1)).sum(0)
        mn = mean.norm()
        mean = mean / mn
        dots = (unit * mean).sum(-1, keepdim=True)
        tang = unit - dots * mean
        tr = (tang * w.view(-1, 1)).sum(0)
        tn = tr.norm() + eps
        res = (mean * torch.cos(tn) + tr * (torch.sin(tn) / tn)) * (norms.squeeze(-1) * w).sum()
        if base is not None:
            res = res + base[t].double().flatten()
        frames.append(res)
    return torch.stack(frames).view(xs[0].shape)


def topk_mask(tau, k):
    """mergekit's magnitude(): argsort |tau| descending, keep the first k."""
    flat = tau.flatten()
    m = torch.zeros_like(flat)
    m[torch.argsort(flat.abs(), descending=True)[:k]] = 1
    return m.view(tau.shape)


def outlier_mask(tau, density, gamma):
    n = tau.numel()
    keep, top = round(density * n), round(gamma * n)
    top = min(top, n - keep)
    order = torch.argsort(tau.flatten().abs(), descending=True)
    m = torch.zeros(n, dtype=tau.dtype)
    m[order[top:top + keep]] = 1
    return m.view(tau.shape)


def merge_deltas(base, ds, w, lam=1.0, normalize=False, consensus=False):
    """mergekit's GTA tail: weights, optional sign consensus ("sum"), optional normalize."""
    D = torch.stack(ds)
    W = torch.tensor(w, dtype=D.dtype).view((-1,) + (1,) * base.dim())
    WD = D * W
    if consensus:
        majority = (WD.sum(0) >= 0).to(D.dtype) * 2 - 1
        mask = (WD.sign() == majority).to(D.dtype)
        mixed = (WD * mask).sum(0)
        div = (W * mask).sum(0)
        div[div == 0] = 1
    else:
        mixed = WD.sum(0)
        div = W.sum()
        if abs(float(div)) < 1e-8:
            div = torch.tensor(1.0, dtype=D.dtype)
    if normalize:
        mixed = mixed / div
    return base.double() + lam * mixed


def ties(xs, base, w, density, lam=1.0, normalize=True):
    taus = [x.double() - base.double() for x in xs]
    ds = [t * topk_mask(t, round(d * t.numel())) for t, d in zip(taus, density)]
    return merge_deltas(base, ds, w, lam, normalize, consensus=True)


def dare(xs, base, w, density, seed, op_index=0, lam=1.0, normalize=False, consensus=False, rescale="inverse"):
    taus = [x.double() - base.double() for x in xs]
    ds = []
    for i, (t, d) in enumerate(zip(taus, density)):
        m = bernoulli(key(seed, op_index, "dare", i), t.numel(), d).view(t.shape)
        masked = t * m
        if rescale == "inverse":
            masked = masked / rng.effective_p(d)
        elif rescale == "l1":
            before, after = t.abs().sum(), masked.abs().sum()
            if before >= 1e-7 and after >= 1e-7:
                masked = masked * (before / after)
        ds.append(masked)
    return merge_deltas(base, ds, w, lam, normalize, consensus)


def breadcrumbs(xs, base, w, density, gamma, lam=1.0, normalize=False, consensus=False):
    taus = [x.double() - base.double() for x in xs]
    ds = [t * outlier_mask(t, d, gamma) for t, d in zip(taus, density)]
    return merge_deltas(base, ds, w, lam, normalize, consensus)


def kpoint(xs, points):
    out = xs[0].clone()
    bounds = [0] + list(points) + [xs[0].shape[0]]
    for j, (a, b) in enumerate(itertools.pairwise(bounds)):
        out[a:b] = xs[j % len(xs)][a:b]
    return out


def uniform_crossover(xs, probs, seed, unit_shape, op_index=0):
    """Each unit (flat index over [T, *unit_shape]) takes parent #{j : lane >= cum_j}."""
    k = key(seed, op_index, "uniform")
    cum, acc = [], 0.0
    for q in probs[:-1]:
        acc += q
        cum.append(rng.lane_threshold(acc))
    T = xs[0].shape[0]
    n_units = T * math.prod(unit_shape)
    choice = torch.tensor([sum(lane(k, u) >= c for c in cum) for u in range(n_units)])
    choice = choice.view((T,) + tuple(unit_shape)).expand(xs[0].shape)
    out = xs[0].clone()
    for j, x in enumerate(xs):
        out = torch.where(choice == j, x, out)
    return out


def blend(a, b, alpha, seed, op_index=0):
    u = uniform(key(seed, op_index, "blend"), a.numel()).view(a.shape)
    g = (1 + 2 * alpha) * u - alpha
    return (1 - g) * a.double() + g * b.double()


def sbx(a, b, eta, child, seed, op_index=0):
    u = uniform(key(seed, op_index, "sbx"), a.numel()).view(a.shape)
    e = 1.0 / (eta + 1.0)
    beta = torch.where(u <= 0.5, (2 * u) ** e, (1.0 / (2 * (1 - u))) ** e)
    a, b = a.double(), b.double()
    if child == 0:
        return 0.5 * ((1 + beta) * a + (1 - beta) * b)
    return 0.5 * ((1 - beta) * a + (1 + beta) * b)


def mutate(x, sigma, p, seed, op_index=0):
    k = key(seed, op_index, "mutate")
    n = x.numel()
    u1 = uniform(k.child("z").child("u1"), n)
    u2 = uniform(k.child("z").child("u2"), n)
    z = torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
    m = bernoulli(k.child("m"), n, p) if p < 1 else torch.ones(n, dtype=torch.float64)
    return x.double() + sigma * (z * m).view(x.shape)
