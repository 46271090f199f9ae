"""Fused CPU loops (numba) for the task-vector kernel :func:`merge_kernels.taskvec.gta`.

The thresholds (select.Cut) and the DARE rescale factors are computed by the torch code of
taskvec.py first; only the pass over the data is fused here. One call walks the flat elements in
blocks of ``BLOCK`` (the block buffers stay in L1/L2): per block and per task with a non-zero
weight it reads x_i and the base once, sparsifies tau_i = x_i - base into a block buffer and
adds it to the block's running sums (S, and P, A, B for consensus, see taskvec's module doc), then
writes the output block once (``gta_range``, every mode). The common cases (ties with plain cuts,
dare_linear, dare_ties, task_arithmetic) take ``gta_hot_range`` (fused_gta_hot.py) instead: one loop per block over
the elements that reads all K parents and the base together and writes the output (the tasks'
arrays in a tuple, the task loop unrolled), which keeps every memory stream busy at once.

Bits: every float operation mirrors the torch path's in order and kind, so results are the same
bytes: ``Tensor.add(other, alpha=a)`` is a fused multiply-add fma(other, a, self) in aten (vector
body and scalar tail alike), written here with llvm.fma; addcmul and mul are plain products;
scalars are cast to the compute dtype as aten does (opmath of float32 is float32). The selection
uses the hash of rng.py through fused.hash32 / fused.fill_hashes (a DARE entry is kept iff its
unsigned lane < lane_threshold(p) + 32768; a "prob" tie of a Cut the same with cut.key and q), and
the "prefix" tie mode keeps the first ``take`` ties in flat order (a running count). float16 and
bfloat16 are converted to float32 by torch chunk by chunk (as Workspace.compute does), float64
runs in float64. Nothing depends on the chunk size.
"""

from __future__ import annotations

import math

import torch

from . import fused, rng
from ._core import flat

try:
    import numba
    import numpy as np
    from numba.typed import List as _TypedList
except ImportError:  # pragma: no cover - fused.active() is False without numba
    numba = None

__all__ = ["BLOCK", "CHUNK", "run_gta"]

#: Elements per block inside a loop (a multiple of 2: hash lanes come in pairs).
BLOCK = 32768
#: Elements per block of the hot loops (all tasks of a block in one loop).
HOT_BLOCK = 4096
#: Elements converted per call for float16 / bfloat16 (a power of two, so conversion chunks never
#: straddle a change of hash key at element 2**33).
CHUNK = 1 << 16

# sparsify codes
SP_NONE, SP_MAGNITUDE, SP_OUTLIERS, SP_RANDOM = 0, 1, 2, 3
# tie codes of a cut in the general magnitude loop
TIE_NONE, TIE_PREFIX, TIE_PROB = 0, 1, 2
_SPARSIFY = {"none": SP_NONE, "magnitude": SP_MAGNITUDE, "outliers": SP_OUTLIERS, "random": SP_RANDOM}


if numba is not None:
    _jit = numba.njit(cache=True, nogil=True, error_model="numpy")  # IEEE division: no zero check
    _inline = numba.njit(inline="always", nogil=True)
    hash32 = fused.hash32
    fill_hashes = fused.fill_hashes

    from .fused_gta_blocks import (
        acc_consensus,
        acc_linear,
        coin_picks,
        copy_block,
        dare_block,
        dare_linear_block,
        finish_consensus,
        finish_linear,
        general_block,
        magnitude_block,
        prefix_picks,
        tau_block,
    )
    from .fused_gta_hot import gta_hot_range

    # -- the pass -------------------------------------------------------------------------------

    @_jit
    def gta_range(XS, bv, o, lo, hi, e_base, tasks, sp, cons, norm, wS, wA, kd1, kd2, thr, ik,
                  lam, val, en, tie, tq, left, kt1, kt2, fin, cst, kept,
                  S, P, A, B, D, pk0, pk1, hb, lanes):
        """Elements [lo, hi) of the arrays in XS (the parents; entries not in ``tasks`` unused), the
        base bv and the output o (all of the compute dtype); element j has the absolute index
        e_base + j (hashes), lo even and [e_base + lo, e_base + hi) inside one hash-key segment.

        Per task t: wS[t] the weight of S / P (w, times the DARE scale), wA[t] the weight of A / B;
        DARE: thr[t] the unsigned lane threshold as uint16 (ik[t]: 0 hash, 1 all kept, 2 none),
        kd1 / kd2 the key words; cuts [t, c]: lam (hardshrink), val (tie value), en (0: keep none),
        tie (TIE_*), tq (prob threshold), left (prefix state, updated), kt1 / kt2 (tie key words),
        ik[t] = 1 where cut 0 is a plain cut (no picks, en = 1: the fast loop).
        fin = [lambda or scale]; cst = [0, 1, max finite]; kept[t] += kept entries.
        """
        zero = cst[0]
        one = cst[1]
        big = cst[2]
        nt = tasks.shape[0]
        fl = fin[0]
        for b0 in range(lo, hi, S.shape[0]):
            m = min(S.shape[0], hi - b0)
            b1 = b0 + m
            bb = bv[b0:b1]
            ob = o[b0:b1]
            e0 = e_base + b0
            nh = (m + 1) >> 1
            for ti in range(nt):
                t = tasks[ti]
                first = ti == 0
                x = XS[t][b0:b1]
                if sp == 3:  # random
                    if ik[t] == 0:
                        fill_hashes(hb[:nh], e0 >> 1, kd1[t], kd2[t])
                    elif ik[t] == 1:
                        hb[:nh] = 0x80008000  # unsigned lanes 0 < thr = 1: all kept
                    if not cons:
                        kept[t] += dare_linear_block(x, bb, S, lanes, m, thr[t], wS[t], first, one, zero)
                        continue
                    kept[t] += dare_block(x, bb, D, lanes, m, thr[t], one, zero)
                elif sp == 0:
                    kept[t] += tau_block(x, bb, D, m, zero)
                elif sp == 1 and ik[t] == 1:
                    kept[t] += magnitude_block(x, bb, D, m, lam[t, 0], zero)
                else:
                    ncut = 2 if sp == 2 else 1
                    for ci in range(ncut):
                        pk = pk0 if ci == 0 else pk1
                        if tie[t, ci] == 1:
                            left[t, ci] -= min(left[t, ci], prefix_picks(x, bb, pk, m, val[t, ci], left[t, ci]))
                        elif tie[t, ci] == 2:
                            fill_hashes(hb[:nh], e0 >> 1, kt1[t], kt2[t])
                            coin_picks(lanes, pk, m, tq[t, ci])
                        else:
                            pk[:m] = 0
                    kept[t] += general_block(x, bb, D, m, ncut == 2, lam[t, 0], val[t, 0], en[t, 0] != 0, pk0,
                                              lam[t, 1], val[t, 1], en[t, 1] != 0, pk1, zero)
                if cons:
                    acc_consensus(D, S, P, A, B, m, wS[t], wA[t], first, norm, one, zero)
                else:
                    acc_linear(D, S, m, wS[t], first)
            if nt == 0:
                copy_block(bb, ob, m)
            elif cons:
                finish_consensus(S, P, A, B, bb, ob, m, fl, norm, one, zero, big)
            else:
                finish_linear(S, bb, ob, m, fl)


def _lambd_inclusive(value: float, dt) -> float:
    """select.Cut.lambd_inclusive without a torch tensor: the next float of ``dt`` below value."""
    return float(np.nextafter(dt(value), dt(-math.inf)))


def run_gta(tk, p, out: torch.Tensor, ctx, *, sparsify: str, consensus: bool, tasks: list[int], cuts,
            scales) -> list[int]:
    """The chunk loop of taskvec.gta as one fused pass; returns the per-task kept counts (the torch
    path's stats["density"] numerators). ``tk`` is taskvec's _Tasks of the call."""
    k = len(tk.xs)
    n = tk.n
    w = p["weight"]
    density = p.get("density", (1.0,) * k)
    cd = tk.cd
    dt = np.float64 if cd == torch.float64 else np.float32
    sp = _SPARSIFY[sparsify]
    norm = bool(p["normalize"])
    lam_p = p["lambda"]

    wS = np.zeros(k, dt)
    wA = np.zeros(k, dt)
    thr = np.zeros(k, np.uint16)
    ik = np.zeros(k, np.int64)
    lam = np.zeros((k, 2), dt)
    val = np.zeros((k, 2), dt)
    en = np.zeros((k, 2), np.int64)
    tie = np.zeros((k, 2), np.int64)
    tq = np.zeros((k, 2), np.int32)
    left = np.zeros((k, 2), np.int64)
    tkeys = [None] * k
    dkeys = [None] * k
    for i in tasks:
        wA[i] = w[i]
        wS[i] = w[i] * scales[i] if sparsify == "random" else w[i]
        if sparsify == "random":
            t = rng.lane_threshold(density[i]) + 32768
            if t >= 65536:
                thr[i], ik[i] = 1, 1
            elif t <= 0:
                thr[i], ik[i] = 0, 2
            else:
                thr[i], ik[i] = t, 0
            dkeys[i] = ctx.key("dare", i)
        elif cuts is not None:
            for ci, c in enumerate(cuts[i]):
                en[i, ci] = 0 if c.keep_none else 1
                val[i, ci] = c.value
                if c.keep_all:
                    lam[i, ci] = -math.inf
                elif c.keep_none:
                    lam[i, ci] = math.inf
                elif c.ties == "all":
                    lam[i, ci] = _lambd_inclusive(c.value, dt)
                else:
                    lam[i, ci] = c.value
                    if c.ties == "prefix":
                        tie[i, ci] = TIE_PREFIX
                        left[i, ci] = c.state.get("left", c.take)
                    elif c.ties == "prob":
                        tie[i, ci] = TIE_PROB
                        tq[i, ci] = rng.lane_threshold(c.q) + 32768
                        tkeys[i] = c.key
            c0 = cuts[i][0]
            ik[i] = 1 if (c0.keep_all or (not c0.keep_none and c0.ties in ("all", "none"))) else 0
    if sparsify != "random" and sparsify != "outliers":
        en[:, 1] = 0
        lam[:, 1] = math.inf
    if consensus:
        fin_v = 2.0 * lam_p if norm else lam_p
    else:
        total = sum(w[i] for i in tasks)
        fin_v = lam_p / (total if abs(total) >= 1e-8 else 1.0) if norm else lam_p
    fin = np.array([fin_v], dt)
    cst = np.array([0.0, 1.0, np.finfo(dt).max], dt)
    kept = np.zeros(k, np.int64)
    tasks_a = np.array(tasks, np.int64)

    nt = len(tasks)
    hot = nt > 0 and (sparsify == "random" or (sparsify == "none" and not consensus)
                      or (sparsify == "magnitude" and consensus and all(ik[i] == 1 for i in tasks)))
    if hot:
        pos = np.array(tasks, np.int64)
        h_lam = tuple(dt(lam[i, 0]) for i in tasks)
        h_thr = tuple(np.uint16(thr[i]) for i in tasks)
        h_ws = tuple(dt(wS[i]) for i in tasks)
        h_wa = tuple(dt(wA[i]) for i in tasks)
        h_ik = ik[pos].copy()
        h_kept = np.zeros(nt, np.int64)
        HB = np.zeros((nt, HOT_BLOCK // 2), np.uint32)
        LN = HB.view(np.uint16)
        KB = np.zeros((nt, HOT_BLOCK), np.uint8)
    else:
        S, P, A, B, D = (np.empty(BLOCK, dt) for _ in range(5))
        pk0 = np.zeros(BLOCK, np.uint8)
        pk1 = np.zeros(BLOCK, np.uint8)
        hb, lanes = fused.lane_scratch(BLOCK)

    def key_words(keys, hi):
        k1 = np.zeros(k, np.uint32)
        k2 = np.zeros(k, np.uint32)
        for i in tasks:
            if keys[i] is not None:
                a, b = keys[i].at(hi)
                k1[i], k2[i] = a, b
        return k1, k2

    def one_range(xs, bv, ov, lo, hi, e_base):
        """xs: task -> numpy array; [lo, hi) inside one hash-key segment."""
        seg = (e_base + lo) >> 33  # the hash key changes where (element >> 1) >> 32 does
        kd1, kd2 = key_words(dkeys, seg)
        if hot:
            XT = tuple(xs[i] for i in tasks)
            gta_hot_range(XT, bv, ov, lo, hi, e_base, consensus, sparsify == "random", norm, h_lam, h_thr,
                          h_ik, h_ws, h_wa, kd1[pos], kd2[pos], fin, cst, h_kept, HB, LN, KB)
            return
        kt1, kt2 = key_words(tkeys, seg)
        XS = _TypedList([xs.get(i, bv) for i in range(k)])
        gta_range(XS, bv, ov, lo, hi, e_base, tasks_a, sp, consensus, norm, wS, wA, kd1, kd2, thr, ik,
                  lam, val, en, tie, tq, left, kt1, kt2, fin, cst, kept, S, P, A, B, D, pk0, pk1, hb, lanes)

    o = flat(out)
    if out.dtype == cd:
        bv = fused.as_numpy(tk.b)
        xs = {i: fused.as_numpy(tk.xs[i]) for i in tasks}
        ov = fused.as_numpy(o)
        for s0 in range(0, n, 1 << 33):
            one_range(xs, bv, ov, s0, min(n, s0 + (1 << 33)), 0)
    else:
        # float16 / bfloat16: convert CHUNK elements at a time to float32 with torch
        csz = min(CHUNK, n)
        bufs = {i: torch.empty(csz, dtype=cd) for i in tasks}
        bbuf = torch.empty(csz, dtype=cd)
        obuf = torch.empty(csz, dtype=cd)
        xs = {i: fused.as_numpy(bufs[i]) for i in tasks}
        bv = fused.as_numpy(bbuf)
        ov = fused.as_numpy(obuf)
        for c0 in range(0, n, CHUNK):
            c1 = min(n, c0 + CHUNK)
            m = c1 - c0
            for i in tasks:
                bufs[i][:m].copy_(tk.xs[i][c0:c1])
            bbuf[:m].copy_(tk.b[c0:c1])
            one_range(xs, bv, ov, 0, m, c0)
            o[c0:c1].copy_(obuf[:m])
    if hot:
        kept[pos] = h_kept
    return kept.tolist()
