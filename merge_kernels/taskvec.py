"""Task-vector merges (three-way, need a base): task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs.

One pipeline, as in mergekit's generalized task arithmetic (tau_i = x_i - base)::

    tau_i -> sparsify_i -> * w_i -> [sign consensus] -> [/ sum of kept weights] -> * lambda -> + base

sparsify   none | magnitude (keep the round(d n) largest |tau_i|, global threshold, see select.py)
           | outliers (breadcrumbs: drop the round(gamma n) largest, keep the next round(d n))
           | random (DARE: keep each entry with probability p = density, counter-based hash; the
             kept entries are rescaled by 1/p ("inverse", the DARE paper), to keep the L1 norm of
             tau_i ("l1", what mergekit does) or not at all ("none"))
consensus  elected sign s = sign(sum_i w_i d_i) (+ where the sum is 0); entry i counts where
           sign(d_i) == s; normalize divides by the sum of the weights of the entries that count
           (TIES' disjoint mean).

Consensus is computed in one pass over the tasks with four running sums per chunk, so the K
sparsified task vectors are never stored: S = sum w d, P = sum w relu(d), A = sum w sign(d),
B = sum w |sign(d)|. With c = copysign(1, S): mixed = copysign(P, S) + min(S, 0) (that is P
where c = +1, -(sum of the negative parts) = S - P where c = -1) and divisor = (B + c A) / 2.
Weights of consensus merges must be >= 0 (a negative weight would flip the sign it votes with).

Cost per chunk (in ops, each one pass over a cache-resident chunk): per task tau (the pass that
reads x_i from memory), sparsify, and 1 + 2 (P) + 3 (A, B: sign, A += w s, B += w s*s) running
sums; a first task of weight 1 writes the sums directly (S takes tau's buffer, no copy). The
finish takes copysign through integer ops on the sign bits (aten's copysign is a scalar loop).
Every shortcut gives the same bits as the plain formulation (tests/merge_kernels/test_fast_paths.py).
"""

from __future__ import annotations

import torch

from . import fused, fused_taskvec, rng, select
from ._core import Layout, Workspace, compute_dtype, flat, flat_chunks
from .errors import ParameterError
from .params import Param
from .registry import Operator, register


def _acc(dst, src, alpha: float, first: bool) -> None:
    if first:
        torch.mul(src, alpha, out=dst)
    else:
        dst.add_(src, alpha=alpha)


def _acc_prod(dst, a, b, alpha: float, first: bool) -> None:
    if first:
        torch.mul(a, b, out=dst)
        if alpha != 1.0:
            dst.mul_(alpha)
    else:
        dst.addcmul_(a, b, value=alpha)


class _Tasks:
    """The per-call view of parents as task vectors: tau_i chunks, |tau_i| chunks, samples."""

    def __init__(self, parents, base, out, ctx):
        self.lay = Layout.of(out)
        self.n = self.lay.numel
        self.cd = compute_dtype(out.dtype)
        self.ws = Workspace(out.device)
        self.xs = [flat(x) for x in parents]
        self.b = flat(base)
        self.per = ctx.elems_per_chunk(self.lay)
        self.device = out.device

    def tau(self, i: int, e0: int, e1: int, out: torch.Tensor) -> torch.Tensor:
        ws, cd = self.ws, self.cd
        return torch.sub(ws.compute(self.xs[i][e0:e1], "x", cd), ws.compute(self.b[e0:e1], "base", cd), out=out)

    def abs_fn(self, i: int):
        def abs_chunk(e0: int, e1: int) -> torch.Tensor:
            return self.tau(i, e0, e1, self.ws.buf("abs", e1 - e0, self.cd)).abs_()
        return abs_chunk

    def cuts(self, ranks: list[list[int]], mode: str, ctx) -> list[list[select.Cut]]:
        """Cuts for each task's ranks (exact radix select or sampled kthvalue)."""
        if mode == "auto":
            mode = "exact" if self.n <= select.SAMPLE_SIZE else "sample"
        if mode == "exact":
            return [select.exact_cuts(self.abs_fn(i), self.n, r, self.per, self.ws) for i, r in enumerate(ranks)]
        pos = select.sample_positions(self.n, select.SAMPLE_SIZE, ctx.key("sample"), self.device, self.ws)
        ws, s = self.ws, pos.numel()
        # index_select into workspace buffers: a faster gather than b[pos], and no fresh pages
        bs = torch.index_select(self.b, 0, pos, out=ws.buf("sample.b", s, self.b.dtype))
        bs = ws.compute(bs, "sample.bc", self.cd)
        out = []
        for i, r in enumerate(ranks):
            xi = torch.index_select(self.xs[i], 0, pos, out=ws.buf("sample.x", s, self.b.dtype))
            a = torch.sub(ws.compute(xi, "sample.xc", self.cd), bs, out=ws.buf("sample.a", s, self.cd)).abs_()
            out.append(select.sampled_cuts(a, self.n, r, ctx.key("ties", i), ws))
        return out


def gta(parents, base, p, out, ctx, *, sparsify: str, consensus: bool) -> None:
    """The generalized task-arithmetic kernel shared by the five operators (see module doc)."""
    tk = _Tasks(parents, base, out, ctx)
    n = tk.n
    k = len(parents)
    w = p["weight"]
    tasks = [i for i in range(k) if w[i] != 0.0]
    stats = ctx.stats
    density = p.get("density", (1.0,) * k)
    cuts = scales = None
    if sparsify == "magnitude":
        cuts = tk.cuts([[round(density[i] * n)] for i in range(k)], p["threshold"], ctx)
    elif sparsify == "outliers":
        ranks = []
        for i in range(k):
            keep, top = round(density[i] * n), round(p["gamma"] * n)
            top = min(top, n - keep)  # as mergekit: fewer outliers dropped when d + gamma > 1
            ranks.append([top + keep, top])
        cuts = tk.cuts(ranks, p["threshold"], ctx)
    elif sparsify == "random":
        scales = _dare_scales(tk, tasks, density, p["rescale"], ctx)
    if fused.active(out):  # one fused pass (numba) on the CPU, the same bits
        kept = fused_taskvec.run_gta(tk, p, out, ctx, sparsify=sparsify, consensus=consensus, tasks=tasks,
                                     cuts=cuts, scales=scales)
    else:
        kept = _gta_chunks(tk, p, out, ctx, sparsify=sparsify, consensus=consensus, tasks=tasks,
                           cuts=cuts, scales=scales)
    if stats is not None:
        stats["density"] = [kept[i] / n if i in tasks else 0.0 for i in range(k)]
        if cuts is not None:
            stats["threshold"] = [[c.value for c in cs] for cs in cuts]
            stats["threshold_mode"] = cuts[0][0].mode if cuts else None
        if scales is not None:
            stats["rescale"] = list(scales)


def _gta_chunks(tk: _Tasks, p, out, ctx, *, sparsify: str, consensus: bool, tasks, cuts, scales) -> list[int]:
    """The chunk loop of :func:`gta` in eager torch (CUDA, torch_only): per-task kept counts."""
    ws, cd, n = tk.ws, tk.cd, tk.n
    k = len(tk.xs)
    w = p["weight"]
    stats = ctx.stats
    density = p.get("density", (1.0,) * k)
    kept = [0] * k
    o = flat(out)
    for e0, e1 in flat_chunks(n, tk.per):
        m = e1 - e0
        # buffers of this chunk; on the first task with weight 1 the running sums are written
        # directly (x * 1.0 == x), so tau's buffer may become S: swap names, no copy
        tau, S, P, A, B, tmp = (ws.buf(name, m, cd) for name in ("tau", "S", "P", "A", "B", "tmp"))
        first = True
        for i in tasks:
            tk.tau(i, e0, e1, tau)
            wi = w[i]
            if sparsify == "magnitude":
                select.keep_top(tau, cuts[i][0], e0, tau, ws)
            elif sparsify == "outliers":
                top = select.keep_top(tau, cuts[i][1], e0, ws.buf("top", m, cd), ws)
                select.keep_top(tau, cuts[i][0], e0, tau, ws).sub_(top)
            elif sparsify == "random":
                mask = rng.bernoulli(ws, ws.buf("mask", m, cd), e0, ctx.key("dare", i), density[i])
                if stats is not None:
                    kept[i] += int(mask.sum())
                if not consensus:  # fused: acc += tau * mask * (w / p)
                    _acc_prod(S, tau, mask, wi * scales[i], first)
                    first = False
                    continue
                tau.mul_(mask)
                wi = wi * scales[i]
            if stats is not None and sparsify != "random":
                kept[i] += int(torch.count_nonzero(tau))
            if consensus:
                # P += w relu(d); A += w sign(d); B += w |sign(d)| = w sign(d)^2 (exact either way)
                if first and wi == 1.0:
                    torch.clamp_min(tau, 0, out=P)
                else:
                    _acc(P, torch.clamp_min(tau, 0, out=tmp), wi, first)
                if p["normalize"]:
                    sg = torch.sign(tau, out=A if first and w[i] == 1.0 else tmp)
                    if first:
                        if sg is not A:
                            torch.mul(sg, w[i], out=A)
                        torch.mul(sg, sg, out=B)
                        if w[i] != 1.0:
                            B.mul_(w[i])
                    else:
                        A.add_(sg, alpha=w[i])
                        B.addcmul_(sg, sg, value=w[i])
            if first and wi == 1.0:
                tau, S = S, tau  # S = tau exactly; the old S buffer takes the next task's tau
            else:
                _acc(S, tau, wi, first)
            first = False
        direct = out.dtype == cd
        dst = o[e0:e1] if direct else ws.buf("dst", m, cd)
        bc = ws.compute(tk.b[e0:e1], "base", cd)
        if first:  # no task has a non-zero weight
            dst.copy_(bc)
        elif consensus:
            _finish_consensus((S, P, A, B), dst, bc, p["lambda"], p["normalize"], ws)
        else:
            total = sum(w[i] for i in tasks)
            scale = p["lambda"] / (total if abs(total) >= 1e-8 else 1.0) if p["normalize"] else p["lambda"]
            torch.add(bc, S, alpha=scale, out=dst)
        if not direct:
            o[e0:e1].copy_(dst)
    return kept


# bit patterns for copysign by integer ops (aten's copysign is a scalar loop on the CPU, 3x slower)
_BITS = {torch.float32: (torch.int32, -(1 << 31), (1 << 31) - 1, 0x3F800000),
         torch.float64: (torch.int64, -(1 << 63), (1 << 63) - 1, 0x3FF0000000000000)}


def _finish_consensus(acc, dst, bc, lam: float, normalize: bool, ws: Workspace) -> None:
    """dst = bc + lam * mixed (/ divisor): mixed = copysign(P, S) + min(S, 0), 2 divisor = B + sign(S) A.

    copysign(P, S) = (P & ~signbit) | (S & signbit) and copysign(1, S) = 1.0 | (S & signbit) on
    the integer views: the same bits as torch.copysign.
    """
    S, P, A, B = acc
    idt, smin, smax, one = _BITS[S.dtype]
    sbit = torch.bitwise_and(S.view(idt), smin, out=ws.buf("signbit", S.numel(), idt))
    P.view(idt).bitwise_and_(smax).bitwise_or_(sbit)  # copysign(P, S)
    P.add_(S.clamp_max_(0.0))  # mixed: sum of the agreeing w_i d_i
    if normalize:
        sign = sbit.bitwise_or_(one).view(S.dtype)  # copysign(1, S)
        B.addcmul_(A, sign)  # 2 * divisor = B + sign * A (A * sign is exact)
        P.div_(B).nan_to_num_(nan=0.0)  # 0/0 where no entry agrees
        lam = 2.0 * lam
    torch.add(bc, P, alpha=lam, out=dst)


def _dare_scales(tk: _Tasks, tasks, density, rescale: str, ctx) -> list[float]:
    """Per-task factor for kept entries: 1/p_eff, L1(tau)/L1(masked tau) (pre-pass), or 1."""
    k = len(tk.xs)
    if rescale == "inverse":
        return [1.0 / rng.effective_p(d) for d in density]
    if rescale == "none":
        return [1.0] * k
    before = [0.0] * k
    after = [0.0] * k
    ws, cd = tk.ws, tk.cd
    for e0, e1 in flat_chunks(tk.n, tk.per):
        tau = ws.buf("tau", e1 - e0, cd)
        for i in tasks:
            tk.tau(i, e0, e1, tau).abs_()
            before[i] += float(tau.sum(dtype=torch.float64))
            mask = rng.bernoulli(ws, ws.buf("mask", e1 - e0, cd), e0, ctx.key("dare", i), density[i])
            after[i] += float(torch.dot(tau, mask).double())
    return [before[i] / after[i] if before[i] >= 1e-7 and after[i] >= 1e-7 else 1.0 for i in range(k)]


# -- registration ------------------------------------------------------------------------------

_W_ANY = Param("weight", "floats", 1.0, "weight of each task vector (one number, or one per parent)")
_W_POS = Param("weight", "floats", 1.0, "weight of each task vector; >= 0 (it votes in the sign election)",
               min=0.0, fix="sign consensus needs non-negative weights")
_LAMBDA = Param("lambda", "float", 1.0, "scale of the merged task vector before adding the base")
_THRESH = Param("threshold", "choice", "auto",
                "global magnitude threshold: exact (radix select, exact count), sample (+-0.0025 "
                "density), auto (exact up to 2**20 entries, else sample)", choices=("auto", "exact", "sample"))
_RESCALE = Param("rescale", "choice", "inverse",
                 "kept entries * 1/p (inverse, DARE paper), * L1(tau)/L1(kept) (l1, mergekit), or none",
                 choices=("inverse", "l1", "none"))


def _density(default: float) -> Param:
    return Param("density", "floats", default, "fraction of entries of each task vector to keep", min=0.0,
                 max=1.0, min_open=True, fix="pass a fraction of entries to keep, such as 0.2")


def _check_breadcrumbs(p, layout, n_parents, ctx) -> None:
    if p["consensus"] == "sum" and any(w < 0 for w in p["weight"]):
        raise ParameterError("weight", list(p["weight"]), "[0, inf) with consensus=sum",
                             "use non-negative weights or consensus=none")


def _kernel(sparsify: str, consensus: bool | None):
    def kernel(parents, base, p, out, ctx):
        use = consensus if consensus is not None else p["consensus"] == "sum"
        gta(parents, base, p, out, ctx, sparsify=sparsify, consensus=use)
    return kernel


_COMMON = {"family": "task_vector", "min_parents": 1, "needs_base": True}

register(Operator(
    name="task_arithmetic", kernel=_kernel("none", False), **_COMMON,
    summary="add the weighted task vectors to the base",
    formula="out = base + lambda * sum_i w_i (x_i - base)  (/ sum_i w_i when normalize)",
    params=(_W_ANY, _LAMBDA, Param("normalize", "bool", False, "divide by the sum of the weights")),
    stats=("density",),
))

register(Operator(
    name="ties", kernel=_kernel("magnitude", True), **_COMMON,
    summary="TIES: keep the top-density magnitudes per task, elect signs, disjoint mean",
    formula="d_i = tau_i * [|tau_i| in top round(density_i n)]; s = sign(sum w_i d_i); "
            "out = base + lambda * sum_{i: sign d_i = s} w_i d_i / sum_{i: sign d_i = s} w_i",
    params=(_W_POS, _density(0.2), _LAMBDA,
            Param("normalize", "bool", True, "divide by the sum of the weights that agree with the elected sign"),
            _THRESH),
    stats=("density", "threshold", "threshold_mode"),
))

register(Operator(
    name="dare_linear", kernel=_kernel("random", False), random=True, **_COMMON,
    summary="DARE: drop entries of each task vector at random, rescale the rest, add",
    formula="m_i ~ Bernoulli(density_i); out = base + lambda * sum_i w_i r_i m_i tau_i, r_i = 1/p (inverse)",
    params=(_W_ANY, _density(0.5), _RESCALE, _LAMBDA,
            Param("normalize", "bool", False, "divide by the sum of the weights")),
    stats=("density", "rescale"),
))

register(Operator(
    name="dare_ties", kernel=_kernel("random", True), random=True, **_COMMON,
    summary="DARE masks with TIES sign consensus",
    formula="d_i = r_i m_i tau_i, m_i ~ Bernoulli(density_i); sign election and (optional) disjoint mean as ties",
    params=(_W_POS, _density(0.5), _RESCALE, _LAMBDA,
            Param("normalize", "bool", False, "divide by the sum of the weights that agree with the elected sign")),
    stats=("density", "rescale"),
))

register(Operator(
    name="breadcrumbs", kernel=_kernel("outliers", None), check=_check_breadcrumbs, **_COMMON,
    summary="Model Breadcrumbs: drop the largest gamma and the smallest magnitudes, keep density",
    formula="d_i = tau_i * [rank of |tau_i| in (round(gamma n), round(gamma n) + round(density n)]]; "
            "out = base + lambda * sum_i w_i d_i (consensus=sum: sign election as ties)",
    params=(_W_ANY, _density(0.9),
            Param("gamma", "float", 0.01, "fraction of the largest magnitudes to drop", min=0.0, max=1.0,
                  max_open=True),
            _LAMBDA, Param("normalize", "bool", False, "divide by the sum of the (agreeing) weights"),
            Param("consensus", "choice", "none", "sign consensus: none, or sum (breadcrumbs_ties)",
                  choices=("none", "sum")),
            _THRESH),
    stats=("density", "threshold", "threshold_mode"),
))
