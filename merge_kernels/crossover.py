"""Crossover (selection) operators: every output element is a bit-exact copy of the element of
one parent at the same position, so they also apply to integer token ids.

crossover_kpoint    cut points along the frame axis T; segment j comes from parent j mod K
crossover_uniform   each unit (element, spatial cell or frame) picks a parent at random:
                    P(parent 1) = p for two parents, or P(parent i) = weights_i / sum(weights)
crossover_mask      an explicit region: a box given as fractions of axes ("the east half"), or a
                    bool / integer mask tensor broadcastable to [T, ...]

Selection is done on the integer view of the data (out = b + (a - b) * m with m = 1 where a is
taken, in wrapping integer arithmetic), so NaN payloads, -0.0 and any dtype survive unchanged.
Random choices come from the counter-based hash (rng.py) keyed by (seed, op position, absolute unit index).
Statistics (when a stats dict is passed): "share" (fraction of output elements from each parent)
and "frame_share" ([T, K] float32, per frame).
"""

from __future__ import annotations

import itertools

import torch

from . import fused, fused_region, rng
from ._core import Layout, Workspace, frame_chunks, int_view_dtype
from .errors import ParameterError, ShapeError
from .params import Param
from .registry import Operator, register


def _select_into(o, xs, masks, tmp=None) -> None:
    """o = xs[0], then o = x_j where masks[j-1] is 1 (int views; masks hold 0 / 1 and broadcast).

    Integer arithmetic wraps, so o + (x - o) * m is x bit for bit where m = 1 and o where m = 0:
    two fused ops per extra parent (sub, addcmul), with no copy of xs[0] first. (torch.where is a
    branchy scalar loop on the CPU, ten times slower with random masks.)
    """
    torch.sub(xs[1], xs[0], out=o)
    torch.addcmul(xs[0], o, masks[0], out=o)
    for x, m in zip(xs[2:], masks[1:]):
        d = torch.sub(x, o) if tmp is None else torch.sub(x, o, out=tmp)
        o.addcmul_(d, m)


def _record(stats, share_frames, lay: Layout, k: int) -> None:
    if stats is None:
        return
    fs = share_frames.double()
    total = fs.sum(dim=1, keepdim=True).clamp_min(1)
    stats["frame_share"] = (fs / total).float().cpu()
    stats["share"] = [float(v) for v in (fs.sum(0) / max(lay.numel, 1)).cpu()]


# -- k-point -------------------------------------------------------------------------------------

def kpoint_points(p, T: int, ctx) -> list[int]:
    """The cut points: the explicit ``points``, or ``k`` distinct random ones in [1, T-1]."""
    if p["points"] is not None:
        return list(p["points"])
    k = p["k"]
    cand = torch.empty(T - 1, dtype=torch.int32)
    ws = Workspace(torch.device("cpu"))
    rng.fill_hash(cand, 1, ctx.key("kpoint"), ws.iota(T - 1), torch.empty_like(cand))
    order = (cand.long() & 0xFFFFFFFF) * (1 << 32) + torch.arange(1, T, dtype=torch.int64)
    return sorted(int(i) & 0xFFFFFFFF for i in torch.topk(order, k, largest=False).values)


def _check_kpoint(p, lay: Layout, k_parents: int, ctx) -> None:
    T = lay.T
    if p["points"] is not None:
        pts = p["points"]
        if any(b <= a for a, b in itertools.pairwise(pts)) or any(not 1 <= x <= T - 1 for x in pts):
            raise ParameterError("points", list(pts), f"strictly increasing frame indices in [1, {T - 1}]",
                                 "a cut at t takes frames [.., t) from one parent and [t, ..) from the next")
    elif p["k"] > T - 1:
        raise ParameterError("k", p["k"], f"[1, {T - 1}] (T={T} frames have {T - 1} places to cut)",
                             "pass fewer cut points")


def kpoint(parents, base, p, out, ctx) -> None:
    """Segments between cut points alternate between parents: [0, c1) from 0, [c1, c2) from 1, ..."""
    lay = Layout.of(out)
    k = len(parents)
    pts = kpoint_points(p, lay.T, ctx) if lay.T > 1 else []
    bounds = [0] + pts + [lay.T]
    counts = torch.zeros(lay.T, k, dtype=torch.float64)
    segments = []
    for j, (s0, s1) in enumerate(itertools.pairwise(bounds)):
        src = j % k
        out[s0:s1].copy_(parents[src][s0:s1])
        counts[s0:s1, src] = lay.F
        segments.append([s0, s1, src])
    if ctx.stats is not None:
        ctx.stats["points"] = pts
        ctx.stats["segments"] = segments
        _record(ctx.stats, counts, lay, k)


# -- uniform -------------------------------------------------------------------------------------

def _probabilities(p, k: int) -> list[float]:
    if p["p"] is not None and p["weights"] is not None:
        raise ParameterError("p", p["p"], "unset when weights is given", "pass either p or weights")
    if p["p"] is not None:
        if k != 2:
            raise ParameterError("p", p["p"], "two parents only", f"for {k} parents pass weights=[...]")
        return [1.0 - p["p"], p["p"]]
    if p["weights"] is not None:
        total = sum(p["weights"])
        if total <= 0:
            raise ParameterError("weights", list(p["weights"]), "non-negative numbers with a positive sum",
                                 "give each parent a selection weight")
        return [w / total for w in p["weights"]]
    return [1.0 / k] * k


def _unit_shape(lay: Layout, unit: str, channel_axis: int) -> tuple:
    """Shape of one frame's random units: the frame shape with the collapsed axes set to 1."""
    frame = list(lay.frame_shape)
    if unit == "frame":
        return tuple(1 for _ in frame)
    if unit == "cell":
        frame[channel_axis - 1] = 1
    return tuple(frame)


def _check_uniform(p, lay: Layout, k: int, ctx) -> None:
    _probabilities(p, k)
    if p["unit"] == "cell":
        nd = len(lay.shape)
        ax = p["channel_axis"]
        if not (1 <= ax < nd or -nd < ax <= -1):
            raise ParameterError("channel_axis", ax, f"a frame axis of shape {lay.shape}: 1..{nd - 1} or -{nd - 1}..-1",
                                 "name the channel axis that a spatial cell spans")


def uniform(parents, base, p, out, ctx) -> None:
    """Per unit u (absolute index), parent = #{j : lane_u >= cum_j}, cum_j = round(65536 sum_{i<=j} p_i)."""
    lay = Layout.of(out)
    k = len(parents)
    probs = _probabilities(p, k)
    ax = p["channel_axis"] % len(lay.shape) if p["unit"] == "cell" else 1
    ushape = _unit_shape(lay, p["unit"], ax)
    upf = 1
    for s in ushape:
        upf *= s  # units per frame
    idt = int_view_dtype(out.dtype)
    ws = Workspace(out.device)
    cum, acc = [], 0.0
    for q in probs[:-1]:
        acc += q
        cum.append(rng.lane_threshold(acc))
    xs = [x.view(idt) for x in parents]
    o_all = out.view(idt)
    key = ctx.key("uniform")
    if (p["unit"] != "frame" and lay.numel and fused.active(out, *parents)
            and _uniform_fused(xs, o_all, lay, p["unit"], ax, cum, key, ctx)):
        return
    counts = torch.zeros(lay.T, k, dtype=torch.float64, device=out.device) if ctx.stats is not None else None
    per = ctx.frames_per_chunk(lay)
    # The masks of a block of chunks are made at once when units are few (cell / frame units):
    # a unit's lane depends on its absolute index only, so one hash pass of up to 2**17 units
    # replaces several small ones (each ~10 tiny ops); element units keep one block per chunk.
    block = per * max(1, (1 << 17) // max(per * upf, 1))
    for b0, b1 in frame_chunks(lay.T, block):
        lanes = rng.lanes16(ws, (b1 - b0) * upf, b0 * upf, key)
        # lt[j] (0 / 1 in the data's integer dtype): the unit takes a parent <= j (nested sets)
        lt_block = [_lane_lt(lanes, t, ws.buf(f"lt{j}", (b1 - b0) * upf, idt)) for j, t in enumerate(cum)]
        for t0, t1 in frame_chunks(b1 - b0, per):
            c = t1 - t0
            lt = [m[t0 * upf:t1 * upf] for m in lt_block]
            t0, t1 = t0 + b0, t1 + b0
            view = (c,) + ushape
            # start from the last parent, overwrite with parent j where lt[j]: smallest j wins
            _select_into(o_all[t0:t1], [x[t0:t1] for x in reversed(xs)], [m.view(view) for m in lt[::-1]],
                         ws.buf("sel", c * lay.F, idt).view((c,) + lay.frame_shape) if k > 2 else None)
            if counts is not None:
                le = [m.view(c, -1).sum(1, dtype=torch.float64) for m in lt]  # units taking a parent <= j
                le.append(torch.full((c,), float(upf), dtype=torch.float64, device=out.device))
                prev = torch.zeros_like(le[0])
                for j in range(k):
                    counts[t0:t1, j] = (le[j] - prev) * (lay.F // upf)
                    prev = le[j]
    if counts is not None:
        _record(ctx.stats, counts.cpu(), lay, k)


def _lane_lt(lanes: torch.Tensor, t: int, out: torch.Tensor) -> torch.Tensor:
    """out = lanes < t (0 / 1). The bounds are filled: an int16 compare with 32768 would wrap it to
    -32768 (a weight of 1 for a parent then selected the next one)."""
    if t >= 32768 or t <= -32768:
        return out.fill_(1 if t >= 32768 else 0)
    return torch.lt(lanes, rng.lane_operand(t), out=out)


def _uniform_fused(xs, o_all, lay: Layout, unit: str, ax: int, cum: list[int], key, ctx) -> bool:
    """Element or cell units in one fused loop (fused.uniform_rows) on [rows, C, Q] views: C = 1 and
    Q = F for elements; for cells, rows = T x the axes before the channel axis, C = channels, Q =
    the positions after it (unit index = row * Q + q, as in the torch kernel). False when the loop
    cannot take the tensor (the torch kernel runs then)."""
    frame = lay.frame_shape
    if unit == "cell":
        P, C, Q = _prod(frame[:ax - 1]), frame[ax - 1], _prod(frame[ax:])
    else:
        P, C, Q = 1, 1, max(lay.F, 1)
    shape = (lay.T * P, C, Q)
    counts = fused.uniform_select([x.view(shape) for x in xs], o_all.view(shape), 0, cum, key)
    if counts is None:
        return False
    if ctx.stats is not None:
        per_frame = counts.view(lay.T, P, len(xs)).sum(1).double() * C
        _record(ctx.stats, per_frame, lay, len(xs))
    return True


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


# -- explicit mask / region ---------------------------------------------------------------------

def _box(lay: Layout, region) -> tuple[tuple, list]:
    """The box as index slices, and its complement as disjoint slabs (so each element is copied once)."""
    nd = len(lay.shape)
    ranges: dict = {}
    for axis, start, stop in region:
        a = axis % nd
        size = lay.shape[a]
        lo, hi = round(start * size), round(stop * size)
        if a in ranges:
            lo, hi = max(lo, ranges[a][0]), min(hi, ranges[a][1])
        ranges[a] = (lo, max(lo, hi))
    inside = [slice(None)] * nd
    outside = []
    for a in sorted(ranges):
        lo, hi = ranges[a]
        for s0, s1 in ((0, lo), (hi, lay.shape[a])):
            if s1 > s0:
                slab = list(inside)
                slab[a] = slice(s0, s1)
                outside.append(tuple(slab))
        inside[a] = slice(lo, hi)
    return tuple(inside), outside


def _mask_tensor(p, ctx) -> torch.Tensor | None:
    m = p["mask"]
    if isinstance(m, str):
        t = ctx.tensors.get(m[1:])
        if t is None:
            raise ParameterError("mask", m, "a name given in tensors={...}", f"pass tensors={{'{m[1:]}': mask}}")
        if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.is_complex():
            raise ParameterError("mask", m, "a bool mask or integer parent indices", "pass a bool/integer tensor")
        return t
    return m


def _check_mask(p, lay: Layout, k: int, ctx) -> None:
    nd = len(lay.shape)
    if (p["mask"] is None) == (p["region"] is None):
        raise ParameterError("mask", p["mask"], "exactly one of mask and region",
                             "pass a region such as [[-1, 0.5, 1.0]] (east half) or a mask tensor")
    for name in ("inside", "outside"):
        if not 0 <= p[name] < k:
            raise ParameterError(name, p[name], f"a parent index in [0, {k - 1}]", "count parents from 0")
    if p["region"] is not None:
        for i, (axis, _, _) in enumerate(p["region"]):
            if not -nd <= axis < nd:
                raise ParameterError(f"region[{i}].axis", axis, f"an axis of shape {lay.shape}: [{-nd}, {nd - 1}]",
                                     "count axes of [T, ...] from 0, or from -1 at the end")
        return
    m = _mask_tensor(p, ctx)
    try:
        ok = torch.broadcast_shapes(tuple(m.shape), lay.shape) == lay.shape
    except RuntimeError:
        ok = False
    if not ok or m.dim() > nd:
        raise ShapeError("mask", m, f"a shape broadcastable to {lay.shape}", "e.g. a frame-shaped or [H, W] mask")
    if m.dtype != torch.bool and m.numel() and (int(m.min()) < 0 or int(m.max()) >= k):
        raise ParameterError("mask", m, f"parent indices in [0, {k - 1}]", "integer masks hold parent indices")


def _mask_counts(mb: torch.Tensor, lay: Layout, k: int, p) -> torch.Tensor:
    """[T, K] elements per frame from each parent, without expanding the mask to full size."""
    factor = 1
    for s_m, s in zip(mb.shape[1:], lay.shape[1:]):
        factor *= 1 if s_m == s else s
    counts = torch.zeros(lay.T, k, dtype=torch.float64)
    dims = tuple(range(1, mb.dim()))
    if mb.dtype == torch.bool:
        inside = (mb.sum(dim=dims, dtype=torch.float64) if dims else mb.double()).cpu() * factor
        counts[:, p["outside"]] += lay.F - inside
        counts[:, p["inside"]] += inside
        return counts
    for j in range(k):
        eq = mb == j
        counts[:, j] += (eq.sum(dim=dims, dtype=torch.float64) if dims else eq.double()).cpu() * factor
    return counts


def mask(parents, base, p, out, ctx) -> None:
    """Region: out = parents[outside], with the box taken from parents[inside]. Mask: bool -> inside
    where True, outside where False; integer -> the parent index stored at each position."""
    lay = Layout.of(out)
    k = len(parents)
    nd = len(lay.shape)
    if p["region"] is not None:
        inside, outside = _box(lay, p["region"])
        xin, xout = parents[p["inside"]], parents[p["outside"]]
        box = {a: (sl.start, sl.stop) for a, sl in enumerate(inside) if sl != slice(None)}
        if box and lay.numel and fused.active(out, xin, xout):
            fused_region.region_copy(xin, xout, out, box)  # one pass, each output byte written once
        else:
            for slab in outside:
                out[slab].copy_(xout[slab])
            out[inside].copy_(xin[inside])
        if ctx.stats is not None:
            counts = torch.zeros(lay.T, k, dtype=torch.float64)
            box_frame = torch.zeros(lay.shape[1:], dtype=torch.float64)
            box_frame[inside[1:]] = 1.0
            in_frame = float(box_frame.sum())
            t_in = torch.zeros(lay.T, dtype=torch.float64)
            t_in[inside[0]] = 1.0
            counts[:, p["inside"]] += t_in * in_frame
            counts[:, p["outside"]] += lay.F - t_in * in_frame
            _record(ctx.stats, counts, lay, k)
        return
    m = _mask_tensor(p, ctx).to(out.device)
    mb = m.reshape((1,) * (nd - m.dim()) + tuple(m.shape))  # same ndim as the data
    idt = int_view_dtype(out.dtype)
    xs = [x.view(idt) for x in parents]
    o_all = out.view(idt)
    has_t = mb.shape[0] == lay.T and lay.T > 1

    def selectors(mc: torch.Tensor) -> tuple[list, list]:
        if mc.dtype == torch.bool:
            return [p["outside"], p["inside"]], [mc.to(idt)]
        return list(range(k)), [(mc == j).to(idt) for j in range(1, k)]

    if not has_t:
        order, sel = selectors(mb)
    for t0, t1 in frame_chunks(lay.T, ctx.frames_per_chunk(lay)):
        if has_t:
            order, sel = selectors(mb[t0:t1])
        _select_into(o_all[t0:t1], [xs[j][t0:t1] for j in order], sel)
    if ctx.stats is not None:
        counts = _mask_counts(mb.expand((lay.T,) + tuple(mb.shape[1:])) if not has_t else mb, lay, k, p)
        _record(ctx.stats, counts, lay, k)


_SELECT = {"family": "crossover", "selection": True}

register(Operator(
    name="crossover_kpoint", kernel=kpoint, check=_check_kpoint, random=True, **_SELECT,
    summary="cut the frame axis at k points; segments alternate between the parents",
    formula="out[t] = parents[j mod K][t] for t in [c_j, c_{j+1}), c_0 = 0 < c_1 < ... < c_k < T",
    params=(
        Param("points", "ints", None, "explicit cut frame indices (strictly increasing, in [1, T-1])",
              nullable=True, fix="pass a list of frame indices, or null for k random cuts"),
        Param("k", "int", 1, "number of random cut points when points is null", min=1),
    ),
    stats=("share", "frame_share", "points", "segments"),
))

register(Operator(
    name="crossover_uniform", kernel=uniform, check=_check_uniform, random=True, **_SELECT,
    summary="each element / spatial cell / frame comes from a parent drawn at random",
    formula="P(out_u = parent 1) = p (two parents) or P(parent i) = weights_i / sum weights; "
            "probabilities honoured to 2**-16",
    params=(
        Param("p", "float", None, "two parents: probability that a unit comes from parent 1", min=0.0, max=1.0,
              nullable=True, fix="pass a probability such as 0.5"),
        Param("weights", "floats", None, "selection weight of each parent (default: equal)", min=0.0,
              nullable=True),
        Param("unit", "choice", "element", "what is drawn: element (token), cell (all channels of a spatial "
              "position), frame", choices=("element", "cell", "frame")),
        Param("channel_axis", "int", 1, "axis of [T, ...] that a cell spans (unit=cell)"),
    ),
    stats=("share", "frame_share"),
))

register(Operator(
    name="crossover_mask", kernel=mask, check=_check_mask, **_SELECT,
    summary="take a region (box or mask) from one parent and the rest from another",
    formula="out = where(in_region, parents[inside], parents[outside]); integer masks: out = parents[mask]",
    params=(
        Param("region", "region", None, "box as [[axis, start, stop], ...] fractions; [[-1, 0.5, 1.0]] is the "
              "east half", nullable=True),
        Param("mask", "mask", None, "bool mask (True: inside) or integer parent indices, broadcastable to "
              "[T, ...]; '@name' refers to tensors={...}", nullable=True),
        Param("inside", "int", 1, "parent index used inside the region / where the mask is True", min=0),
        Param("outside", "int", 0, "parent index used elsewhere", min=0),
    ),
    stats=("share", "frame_share"),
))
