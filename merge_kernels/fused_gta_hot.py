"""The hot loops of the fused task-vector pass (see fused_taskvec.py) and the float primitives
both loop sets share, written to give torch's bits.

``gta_hot_range`` takes ties with plain cuts, dare_linear, dare_ties and task_arithmetic: one loop
per block of HOT_BLOCK elements that reads all K parents and the base together and writes the
output once.
"""

from __future__ import annotations

import math

from . import fused

try:
    import numba
    import numpy as np
    from numba.core import types as _nbtypes
    from numba.extending import intrinsic, overload
except ImportError:  # pragma: no cover - fused.active() is False without numba
    numba = None

if numba is not None:
    _jit = numba.njit(cache=True, nogil=True, error_model="numpy")  # IEEE division: no zero check
    _inline = numba.njit(inline="always", nogil=True)
    hash32 = fused.hash32
    fill_hashes = fused.fill_hashes

    @intrinsic
    def fma(typingctx, a, b, c):
        """a * b + c rounded once (llvm.fma), as aten's vec::fmadd for Tensor.add(alpha)."""
        if not (isinstance(a, _nbtypes.Float) and a == b and b == c):
            return None

        def codegen(context, builder, signature, args):
            return builder.fma(*args)
        return a(a, b, c), codegen

    @_inline
    def relu(d, zero):
        """torch.clamp_min(d, 0): d unless d < 0 (NaN and -0.0 stay)."""
        return zero if d < zero else d  # noqa: FURB136 - max() would differ on NaN

    @_inline
    def clamp_max0(s, zero):
        """torch.clamp_max(s, 0): s unless s > 0 (NaN and -0.0 stay)."""
        return zero if s > zero else s  # noqa: FURB136 - min() would differ on NaN

    @_inline
    def nan_to_num(q, zero, big):
        """torch.nan_to_num(q, nan=0.0): NaN -> 0, +-inf -> +-max finite."""
        q = zero if math.isnan(q) else q
        q = big if q > big else q  # noqa: FURB136
        return -big if q < -big else q  # noqa: FURB136

    # -- the hot loops: every task of a block in one loop over its elements ------------------------
    # (XS a tuple of the tasks' arrays, per-task scalars in tuples: the task loop is unrolled, so
    # each element reads all parents and the base once; kept flags go to KB[t, j] and are counted
    # per block.) Running sums start at -0.0: fma(d, w, -0.0) is d * w, -0.0 + a is a, bit for bit,
    # so the first task needs no case of its own.

    def slice_all(XS, b0, b1):
        """(x[b0:b1] for x in XS) as a tuple, inside numba."""
        raise NotImplementedError

    @overload(slice_all, jit_options={"nogil": True})
    def _slice_all_impl(XS, b0, b1):
        src = "def impl(XS, b0, b1):\n    return (" + "".join(f"XS[{i}][b0:b1], " for i in range(len(XS))) + ")\n"
        ns: dict = {}
        exec(src, ns)  # noqa: S102 - one tuple expression per tuple length
        return ns["impl"]

    @_inline
    def _vote(d, s_w, a_w, S, P, A, B, one, zero):
        S = fma(d, s_w, S)
        P = fma(relu(d, zero), s_w, P)
        sg = (one if d > zero else zero) - (one if d < zero else zero)
        return S, P, A + sg * a_w, B + (a_w * sg) * sg

    @_inline
    def _elect(S, P, bj, lamf, zero):
        return fma(math.copysign(P, S) + clamp_max0(S, zero), lamf, bj)

    @_inline
    def _elect_norm(S, P, A, B, bj, lamf, one, zero, big):
        q = (math.copysign(P, S) + clamp_max0(S, zero)) / (B + A * math.copysign(one, S))
        return fma(nan_to_num(q, zero, big), lamf, bj)

    @_inline
    def _hot_consensus(XS, bb, ob, m, dare, lam, thr, ws, wa, LN, KB, norm, cst, lamf):
        """ties (dare False: d = hardshrink(tau, lam[t])) or dare_ties (d = tau * mask) on one block;
        dare and norm are constants where this is inlined."""
        zero = cst[0]
        one = cst[1]
        big = cst[2]
        nz = -zero
        nt = len(XS)
        for j in range(m):
            bj = bb[j]
            S = nz
            P = nz
            A = nz
            B = nz
            for t in range(nt):
                tau = XS[t][j] - bj
                if dare:
                    keep = (LN[t, j] ^ np.uint16(0x8000)) < thr[t]
                    d = tau * (one if keep else zero)
                else:
                    d = tau if not abs(tau) <= lam[t] else zero
                    keep = d != zero
                KB[t, j] = 1 if keep else 0
                S, P, A, B = _vote(d, ws[t], wa[t], S, P, A, B, one, zero)
            ob[j] = _elect_norm(S, P, A, B, bj, lamf, one, zero, big) if norm else _elect(S, P, bj, lamf, zero)

    @_inline
    def _hot_linear(XS, bb, ob, m, dare, thr, ws, LN, KB, cst, scale):
        """dare_linear (dare True) or task_arithmetic (sparsify none) on one block (dare constant)."""
        zero = cst[0]
        one = cst[1]
        nt = len(XS)
        for j in range(m):
            bj = bb[j]
            S = zero
            for t in range(nt):
                tau = XS[t][j] - bj
                if dare:
                    keep = (LN[t, j] ^ np.uint16(0x8000)) < thr[t]
                    mk = one if keep else zero
                    S = (tau * mk) * ws[t] if t == 0 else S + (ws[t] * tau) * mk
                else:
                    keep = tau != zero
                    S = tau * ws[t] if t == 0 else fma(tau, ws[t], S)
                KB[t, j] = 1 if keep else 0
            ob[j] = fma(S, scale, bj)

    @_jit
    def gta_hot_range(XS, bv, o, lo, hi, e_base, cons, dare, norm, lam, thr, ik, ws, wa, kd1, kd2, fin, cst,
                      kept, HB, LN, KB):
        """Elements [lo, hi) as gta_range, all tasks in one loop (XS: the tasks' arrays only; kept,
        kd1, kd2, ik indexed by task position). HB [nt, B / 2] uint32 with LN its uint16 view, KB
        [nt, B] uint8."""
        nt = len(XS)
        B = KB.shape[1]
        fl = fin[0]
        for b0 in range(lo, hi, B):
            m = min(B, hi - b0)
            b1 = b0 + m
            e0 = e_base + b0
            nh = (m + 1) >> 1
            if dare:
                for t in range(nt):
                    if ik[t] == 0:
                        fill_hashes(HB[t, :nh], e0 >> 1, kd1[t], kd2[t])
                    elif ik[t] == 1:
                        HB[t, :nh] = 0x80008000  # unsigned lanes 0 < thr = 1: all kept
            xs = slice_all(XS, b0, b1)
            bb = bv[b0:b1]
            ob = o[b0:b1]
            if cons:
                if dare:
                    if norm:
                        _hot_consensus(xs, bb, ob, m, True, lam, thr, ws, wa, LN, KB, True, cst, fl)
                    else:
                        _hot_consensus(xs, bb, ob, m, True, lam, thr, ws, wa, LN, KB, False, cst, fl)
                elif norm:
                    _hot_consensus(xs, bb, ob, m, False, lam, thr, ws, wa, LN, KB, True, cst, fl)
                else:
                    _hot_consensus(xs, bb, ob, m, False, lam, thr, ws, wa, LN, KB, False, cst, fl)
            elif dare:
                _hot_linear(xs, bb, ob, m, True, thr, ws, LN, KB, cst, fl)
            else:
                _hot_linear(xs, bb, ob, m, False, thr, ws, LN, KB, cst, fl)
            for t in range(nt):
                kb = KB[t]
                c = 0
                for j in range(m):
                    c += kb[j]
                kept[t] += c
