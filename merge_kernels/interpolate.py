"""Interpolation: linear, slerp (per frame), multislerp (N-way, per frame).

Shapes: parents are K tensors [T, *frame]; a *frame vector* is one frame flattened, [F].
slerp and multislerp treat every frame as its own vector (angles are per frame); linear is
elementwise. All accumulate in float32 (float64 stays float64).
"""

from __future__ import annotations

import torch

from . import fused
from ._core import DEFAULT_CHUNK_ELEMS, Layout, Workspace, compute_dtype, flat, flat_chunks, frame_chunks
from .errors import ParameterError
from .params import Param
from .registry import Operator, register

WEIGHT = Param("weight", "floats", 1.0, "weight of each parent (one number, or one per parent)")


def _coefficients(weights: tuple, normalize: bool) -> list[float]:
    if not normalize:
        return list(weights)
    total = sum(weights)
    if abs(total) < 1e-12:
        raise ParameterError("weight", list(weights), "weights whose sum is not 0 when normalize=true",
                             "change the weights or pass normalize=false")
    return [w / total for w in weights]


def linear(parents, base, p, out, ctx) -> None:
    """out = sum_i w_i x_i  (/ sum_i w_i when normalize).

    Two parents with normalize use torch.lerp(x0, x1, w1 / (w0 + w1)): one fused pass, exact
    at the ends (w1 = 0 gives x0, w1 = 1 gives x1 bit for bit).
    """
    c = _coefficients(p["weight"], p["normalize"])
    lay = Layout.of(out)
    cd = compute_dtype(out.dtype)
    ws = Workspace(out.device)
    xs = [flat(x) for x in parents]
    o = flat(out)
    use_lerp = len(xs) == 2 and p["normalize"]
    for e0, e1 in flat_chunks(lay.numel, ctx.elems_per_chunk(lay)):
        direct = out.dtype == cd
        dst = o[e0:e1] if direct else ws.buf("dst", e1 - e0, cd)
        x0 = ws.compute(xs[0][e0:e1], "x0", cd)
        if use_lerp:
            torch.lerp(x0, ws.compute(xs[1][e0:e1], "x1", cd), c[1], out=dst)
        else:
            torch.mul(x0, c[0], out=dst)
            for i in range(1, len(xs)):
                dst.add_(ws.compute(xs[i][e0:e1], "x1", cd), alpha=c[i])
        if not direct:
            o[e0:e1].copy_(dst)
    if ctx.stats is not None:
        ctx.stats["coefficients"] = c


def slerp_coefficients(na, nb, dot, t: float, threshold: float, eps: float):
    """Per-frame (s0, s1, is_lerp) in float64 from norms and dot products (mergekit's slerp).

    cos = a.b / (|a| |b|) (a norm <= eps counts as 1, as mergekit leaves such a vector
    unnormalized); |cos| > threshold -> lerp: s0 = 1 - t, s1 = t; else theta = acos(cos),
    s0 = sin(theta - t theta) / sin(theta), s1 = sin(t theta) / sin(theta).
    """
    # the same float64 arithmetic as written above, batched to few small ops (each costs ~2 us,
    # about as much as a pass over a frame): norms stacked [2, c], the two sines stacked [2, c]
    norms = torch.stack((na, nb)).double()
    unit = torch.where(norms > eps, norms, 1.0)
    cos = dot.double() / (unit[0] * unit[1])
    is_lerp = cos.abs() > threshold
    theta0 = torch.acos(cos.clamp(-1.0, 1.0))
    safe = torch.where(is_lerp, 1.0, torch.sin(theta0))
    theta_t = theta0 * t
    s = torch.sin(torch.stack((theta0 - theta_t, theta_t))) / safe
    s = torch.where(is_lerp, torch.tensor([[1.0 - t], [t]], dtype=s.dtype, device=s.device), s)
    return s[0], s[1], is_lerp


def slerp(parents, base, p, out, ctx) -> None:
    """Per frame: out = sin((1-t) theta)/sin(theta) * a + sin(t theta)/sin(theta) * b,
    theta = angle between the frame vectors a and b; lerp (1-t) a + t b when |cos theta| >
    dot_threshold (nearly parallel). Equal-norm inputs keep their norm; t=0 / t=1 return a / b.
    """
    t, thr, eps = p["t"], p["dot_threshold"], p["eps"]
    lay = Layout.of(out)
    cd = compute_dtype(out.dtype)
    ws = Workspace(out.device)
    F = max(lay.F, 1)
    A_all, B_all, O = parents[0].view(lay.T, F), parents[1].view(lay.T, F), out.view(lay.T, F)
    n_lerp = 0
    if fused.active(out, *parents):
        n_lerp = _slerp_fused(A_all, B_all, O, t, thr, eps, cd, ws, ctx.frames_per_chunk(lay))
        if ctx.stats is not None:
            ctx.stats["lerp_frames"] = n_lerp
            ctx.stats["frames"] = lay.T
        return
    # twice the elementwise chunk: the per-chunk coefficient math is ~20 tiny ops, and the four
    # chunk buffers (a, b, a*b, out) still fit the L3 cache
    for t0, t1 in frame_chunks(lay.T, ctx.frames_per_chunk(lay, 2 * DEFAULT_CHUNK_ELEMS)):
        c = t1 - t0
        a = ws.compute(A_all[t0:t1], "a", cd)  # (c, F)
        b = ws.compute(B_all[t0:t1], "b", cd)
        na = torch.linalg.vector_norm(a, dim=1)  # (c,)
        nb = torch.linalg.vector_norm(b, dim=1)
        tmp = ws.buf("ab", c * F, cd).view(c, F)
        dot = torch.mul(a, b, out=tmp).sum(dim=1)  # (c,) one product pass
        s0, s1, is_lerp = slerp_coefficients(na, nb, dot, t, thr, eps)
        direct = out.dtype == cd
        dst = O[t0:t1] if direct else ws.buf("dst", c * F, cd).view(c, F)
        sc = torch.stack((s0, s1)).to(cd)  # (2, c): one conversion
        torch.mul(a, sc[0].view(c, 1), out=dst)
        dst.addcmul_(b, sc[1].view(c, 1))
        if not direct:
            O[t0:t1].copy_(dst)
        if ctx.stats is not None:
            n_lerp += int(is_lerp.sum())
    if ctx.stats is not None:
        ctx.stats["lerp_frames"] = n_lerp
        ctx.stats["frames"] = lay.T


def _slerp_fused(A, B, O, t, thr, eps, cd, ws, per: int) -> int:
    """slerp with one fused loop per frame (fused.slerp_rows): float32 / float64 in place; float16
    and bfloat16 through float32 copies of each chunk. Returns the number of lerp frames."""
    if O.dtype == cd:
        return fused.slerp_frames(A, B, O, t, thr, eps)
    n = 0
    for t0, t1 in frame_chunks(O.shape[0], per):
        c, F = t1 - t0, O.shape[1]
        dst = ws.buf("dst", c * F, cd).view(c, F)
        n += fused.slerp_frames(ws.compute(A[t0:t1], "a", cd), ws.compute(B[t0:t1], "b", cd), dst, t, thr, eps)
        O[t0:t1].copy_(dst)
    return n


def multislerp_coefficients(G, w, eps: float):
    """Per-frame coefficients c [n, K] with out = sum_i c_i x_i, from Gram matrices G [n, K, K].

    mergekit's multislerp written in the span of the inputs: u_i = x_i / (|x_i| + eps);
    m = sum_i w_i u_i, m^ = m / |m|; v_i = u_i - (u_i . m^) m^; tau = sum_i w_i v_i;
    out = (m^ cos|tau| + tau sin|tau| / |tau|) * sum_i w_i |x_i|   (|tau| gets + eps).
    Frames where |m| < eps (antipodal inputs) fall back to the weighted mean sum_i w_i x_i.
    """
    G = G.double()
    w = w.double()
    n = torch.diagonal(G, dim1=1, dim2=2).clamp_min(0).sqrt()  # (n, K) norms
    inv = 1.0 / (n + eps)
    alpha = w * inv  # m = sum alpha_i x_i

    def quad(v):  # v^T G v per frame
        return torch.einsum("ni,nij,nj->n", v, G, v).clamp_min(0)

    m_norm = quad(alpha).sqrt()
    degenerate = m_norm < eps
    beta = alpha / torch.where(degenerate, torch.ones_like(m_norm), m_norm).unsqueeze(1)  # m^
    d = torch.einsum("nij,nj->ni", G, beta) * inv  # u_i . m^
    gamma = alpha - (w * d).sum(1, keepdim=True) * beta  # tau
    tn = quad(gamma).sqrt() + eps
    coef = beta * torch.cos(tn).unsqueeze(1) + gamma * (torch.sin(tn) / tn).unsqueeze(1)
    coef = coef * (n * w).sum(1, keepdim=True)
    return torch.where(degenerate.unsqueeze(1), w.expand_as(coef), coef)


def multislerp(parents, base, p, out, ctx) -> None:
    """N-way spherical interpolation per frame (see multislerp_coefficients for the formula).

    With a base, it interpolates the task vectors x_i - base and adds the base back.
    Cost per chunk: the K frame vectors are stacked, one batched Gram product (c, K, K) and one
    batched combination (c, 1, K) x (c, K, F).
    """
    k = len(parents)
    w = torch.tensor(_coefficients(p["weight"], p["normalize_weights"]), dtype=torch.float64, device=out.device)
    lay = Layout.of(out)
    cd = compute_dtype(out.dtype)
    ws = Workspace(out.device)
    F = max(lay.F, 1)
    views = [x.view(lay.T, F) for x in parents]
    bview = base.view(lay.T, F) if base is not None else None
    O = out.view(lay.T, F)
    for t0, t1 in frame_chunks(lay.T, ctx.frames_per_chunk(lay)):
        c = t1 - t0
        X = ws.buf("stack", c * k * F, cd).view(c, k, F)
        for i, v in enumerate(views):
            if bview is None:
                X[:, i].copy_(v[t0:t1])
            else:
                torch.sub(ws.compute(v[t0:t1], "x", cd), ws.compute(bview[t0:t1], "b", cd), out=X[:, i])
        G = torch.bmm(X, X.transpose(1, 2))  # (c, K, K)
        coef = multislerp_coefficients(G, w, p["eps"]).to(cd).unsqueeze(1)  # (c, 1, K)
        direct = out.dtype == cd and bview is None
        dst = O[t0:t1] if direct else ws.buf("dst", c * F, cd).view(c, F)
        torch.bmm(coef, X, out=dst.view(c, 1, F))
        if bview is not None:
            dst.add_(ws.compute(bview[t0:t1], "b", cd))
        if not direct:
            O[t0:t1].copy_(dst)


register(Operator(
    name="linear", kernel=linear, family="interpolate",
    summary="weighted average of the parents",
    formula="out = sum_i w_i x_i / sum_i w_i (normalize) or sum_i w_i x_i",
    params=(WEIGHT, Param("normalize", "bool", True, "divide by the sum of the weights")),
    stats=("coefficients",),
))

register(Operator(
    name="slerp", kernel=slerp, family="interpolate", min_parents=2, max_parents=2,
    summary="spherical interpolation of two parents, per frame",
    formula="per frame: out = sin((1-t)th)/sin(th) a + sin(t th)/sin(th) b, th = angle(a, b); "
            "lerp when |cos th| > dot_threshold",
    params=(
        Param("t", "float", 0.5, "position between parent 0 (t=0) and parent 1 (t=1)", min=0.0, max=1.0,
              fix="pass a fraction such as 0.5"),
        Param("dot_threshold", "float", 0.9995, "|cos| above which frames count as parallel and are lerped",
              min=0.0, max=1.0, min_open=True, max_open=True),
        Param("eps", "float", 1e-8, "norms at or below eps count as zero", min=0.0, min_open=True),
    ),
    stats=("lerp_frames", "frames"),
))

register(Operator(
    name="multislerp", kernel=multislerp, family="interpolate", uses_base=True,
    summary="N-way spherical interpolation per frame (barycentre on the sphere, mergekit's multislerp)",
    formula="u_i = x_i/|x_i|; m^ = normalize(sum w_i u_i); tau = sum w_i (u_i - (u_i.m^) m^); "
            "out = (m^ cos|tau| + tau sin|tau|/|tau|) * sum w_i |x_i|  (relative to base if given)",
    params=(
        WEIGHT,
        Param("normalize_weights", "bool", True, "divide the weights by their sum"),
        Param("eps", "float", 1e-8, "numerical floor for norms", min=0.0, min_open=True),
    ),
))
