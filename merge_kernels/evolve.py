"""Evolutionary recombination and mutation on float latents (elementwise, random per element).

blend            BLX-alpha: g = (1 + 2 alpha) U - alpha, child = (1 - g) a + g b
sbx              simulated binary crossover: beta = (2U)^(1/(eta+1)) for U <= 1/2, else
                 (1 / (2 (1 - U)))^(1/(eta+1)); child 0 = ((1 + beta) a + (1 - beta) b) / 2,
                 child 1 = ((1 - beta) a + (1 + beta) b) / 2
mutate_gaussian  x + sigma * N(0, 1) at each element, with probability p

Both crossovers are written as torch.lerp(a, b, g) with a per-element weight g, one fused pass.
U and N come from the counter-based hash (rng.py), keyed by (seed, op position, element index).
"""

from __future__ import annotations

import torch

from . import rng
from ._core import Layout, Workspace, compute_dtype, flat, flat_chunks
from .params import Param
from .registry import Operator, register


def _lerp_by(parents, out, ctx, weight_fn) -> None:
    """out = lerp(a, b, g) chunk by chunk, g = weight_fn(g_buffer, e0) filled in place."""
    lay = Layout.of(out)
    cd = compute_dtype(out.dtype)
    ws = Workspace(out.device)
    a_all, b_all, o = flat(parents[0]), flat(parents[1]), flat(out)
    for e0, e1 in flat_chunks(lay.numel, ctx.elems_per_chunk(lay)):
        g = weight_fn(ws, ws.buf("g", e1 - e0, cd), e0)
        direct = out.dtype == cd
        dst = o[e0:e1] if direct else ws.buf("dst", e1 - e0, cd)
        torch.lerp(ws.compute(a_all[e0:e1], "a", cd), ws.compute(b_all[e0:e1], "b", cd), g, out=dst)
        if not direct:
            o[e0:e1].copy_(dst)


def blend(parents, base, p, out, ctx) -> None:
    """BLX-alpha: each element is drawn uniformly from the parents' interval widened by alpha."""
    alpha = p["alpha"]
    key = ctx.key("blend")

    def weight(ws, g, e0):
        return rng.uniform(ws, g, e0, key).mul_(1.0 + 2.0 * alpha).sub_(alpha)

    _lerp_by(parents, out, ctx, weight)


def sbx(parents, base, p, out, ctx) -> None:
    """Simulated binary crossover (Deb & Agrawal) with spread factor beta per element."""
    e = 1.0 / (p["eta"] + 1.0)
    sign = -1.0 if p["child"] == 0 else 1.0
    key = ctx.key("sbx")

    def weight(ws, g, e0):
        u = rng.uniform(ws, g, e0, key)
        side = ws.buf("sbx.side", u.numel(), u.dtype)
        torch.sub(0.5, u, out=side).sign_()  # +1 where u < 1/2: beta = (2u)^e; -1: (2(1-u))^-e
        torch.minimum(u, torch.sub(1.0, u, out=ws.buf("sbx.1mu", u.numel(), u.dtype)), out=g)
        g.mul_(2.0).log_().mul_(side).mul_(e).exp_()  # beta
        return g.mul_(sign).add_(1.0).mul_(0.5)  # child 0: g = (1 - beta)/2; child 1: (1 + beta)/2

    _lerp_by(parents, out, ctx, weight)


def mutate_gaussian(parents, base, p, out, ctx) -> None:
    """out = x + sigma * z * m, z ~ N(0, 1), m ~ Bernoulli(p), per element."""
    lay = Layout.of(out)
    cd = compute_dtype(out.dtype)
    ws = Workspace(out.device)
    x_all, o = flat(parents[0]), flat(out)
    sigma, prob = p["sigma"], p["p"]
    key = ctx.key("mutate")
    mutated = 0
    for e0, e1 in flat_chunks(lay.numel, ctx.elems_per_chunk(lay)):
        m = e1 - e0
        x = ws.compute(x_all[e0:e1], "x", cd)
        direct = out.dtype == cd
        dst = o[e0:e1] if direct else ws.buf("dst", m, cd)
        z = rng.normal(ws, ws.buf("z", m, cd), e0, key.child("z"))
        if prob < 1.0:
            mask = rng.bernoulli(ws, ws.buf("mask", m, cd), e0, key.child("m"), prob)
            torch.addcmul(x, z, mask, value=sigma, out=dst)
            if ctx.stats is not None:
                mutated += int(mask.sum())
        else:
            torch.add(x, z, alpha=sigma, out=dst)
            mutated += m
        if not direct:
            o[e0:e1].copy_(dst)
    if ctx.stats is not None:
        ctx.stats["mutated"] = mutated / max(lay.numel, 1)


_TWO = {"family": "recombine", "min_parents": 2, "max_parents": 2, "random": True}

register(Operator(
    name="blend", kernel=blend, **_TWO,
    summary="BLX-alpha: uniform sample from the parents' interval, widened by alpha on each side",
    formula="g = (1 + 2 alpha) U - alpha, U ~ U(0, 1); out = (1 - g) a + g b",
    params=(Param("alpha", "float", 0.5, "how far beyond the parents' interval children may land", min=0.0,
                  fix="pass a non-negative spread such as 0.5"),),
))

register(Operator(
    name="sbx", kernel=sbx, **_TWO,
    summary="simulated binary crossover: children spread around the parents by a polynomial law",
    formula="beta = (2U)^(1/(eta+1)) if U <= 1/2 else (2(1-U))^(-1/(eta+1)); "
            "child0 = ((1+beta) a + (1-beta) b)/2, child1 = ((1-beta) a + (1+beta) b)/2",
    params=(
        Param("eta", "float", 15.0, "distribution index: larger keeps children closer to the parents", min=0.0),
        Param("child", "int", 0, "which of the two children to return", min=0, max=1),
    ),
))

register(Operator(
    name="mutate_gaussian", kernel=mutate_gaussian, family="mutate", min_parents=1, max_parents=1,
    random=True, inplace=True,
    summary="add Gaussian noise to a fraction p of the elements",
    formula="out = x + sigma * z * m, z ~ N(0, 1), m ~ Bernoulli(p)",
    params=(
        Param("sigma", "float", 0.01, "standard deviation of the noise", min=0.0),
        Param("p", "float", 1.0, "probability that an element is mutated", min=0.0, max=1.0),
    ),
    stats=("mutated",),
))
