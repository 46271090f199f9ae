"""The block loops of the fused task-vector pass (``fused_taskvec.gta_range`` calls them per block): sparsify
one task's block into a buffer, add it to the running sums, write the output block. Each mirrors the torch path
of taskvec.py operation by operation, so the bytes are the same (see fused_taskvec's module doc)."""

from __future__ import annotations

import math

try:
    import numba
    import numpy as np
except ImportError:  # pragma: no cover - fused.active() is False without numba
    numba = None

if numba is not None:
    from .fused_gta_hot import clamp_max0, fma, nan_to_num, relu

    _jit = numba.njit(cache=True, nogil=True, error_model="numpy")  # IEEE division: no zero check

    # -- sparsify: one block of one task into D; returns the kept count (as the torch path's) ---

    @_jit
    def tau_block(x, bb, D, m, zero):
        """sparsify none: D = tau; count of non-zero tau."""
        c = 0
        for j in range(m):
            t = x[j] - bb[j]
            D[j] = t
            c += 1 if t != zero else 0
        return c

    @_jit
    def magnitude_block(x, bb, D, m, lam, zero):
        """One cut without tie picks (keep_all: lam = -inf; ties all: lam = the next float below the
        value; ties none: lam = value): D = hardshrink(tau, lam); count of non-zero D."""
        c = 0
        for j in range(m):
            t = x[j] - bb[j]
            d = t if not abs(t) <= lam else zero
            D[j] = d
            c += 1 if d != zero else 0
        return c

    @_jit
    def prefix_picks(x, bb, pk, m, value, left):
        """pk[j] = tau_j is a tie (|tau| == value) among the first ``left`` ties; returns the number
        of ties seen (sequential: the running count carries)."""
        seen = 0
        for j in range(m):
            eq = abs(x[j] - bb[j]) == value
            pk[j] = 1 if eq and seen < left else 0
            seen += 1 if eq else 0
        return seen

    @_jit
    def coin_picks(lanes, pk, m, thr):
        """pk[j] = unsigned lane j < thr (thr in [0, 65536]); the unsigned lane is rng.lanes16's
        signed one + 32768: its bits ^ 0x8000."""
        for j in range(m):
            pk[j] = 1 if np.int32(lanes[j] ^ np.uint16(0x8000)) < thr else 0

    @_jit
    def general_block(x, bb, D, m, two, lam0, val0, en0, pk0, lam1, val1, en1, pk1, zero):
        """keep_top with tie picks (pk: 1 where a tie |tau| == value is taken), for one cut or
        two (breadcrumbs: D = top(cut0) - top(cut1)). Kept: hardshrink(tau, lam) + where(pick, tau, 0);
        en = 0 for a keep_none cut (all +0)."""
        c = 0
        for j in range(m):
            t = x[j] - bb[j]
            a = abs(t)
            k0 = en0 and not a <= lam0
            p0 = (a == val0) and pk0[j] != 0
            d = t if k0 else (t + zero if p0 else zero)
            if two:
                k1 = en1 and not a <= lam1
                p1 = (a == val1) and pk1[j] != 0
                d = d - (t if k1 else (t + zero if p1 else zero))
            D[j] = d
            c += 1 if d != zero else 0
        return c

    @_jit
    def dare_block(x, bb, D, lanes, m, thr, one, zero):
        """D = tau * mask, mask = (unsigned lane < thr); returns the mask's ones."""
        c = 0
        for j in range(m):
            t = x[j] - bb[j]
            keep = (lanes[j] ^ np.uint16(0x8000)) < thr
            D[j] = t * (one if keep else zero)
            c += 1 if keep else 0
        return c

    @_jit
    def dare_linear_block(x, bb, S, lanes, m, thr, alpha, first, one, zero):
        """Without consensus: S = (tau * mask) * alpha on the first task, else S + (alpha * tau) * mask
        (torch.mul + mul_, then addcmul_); returns the mask's ones."""
        c = 0
        if first:
            for j in range(m):
                keep = (lanes[j] ^ np.uint16(0x8000)) < thr
                S[j] = ((x[j] - bb[j]) * (one if keep else zero)) * alpha
                c += 1 if keep else 0
        else:
            for j in range(m):
                keep = (lanes[j] ^ np.uint16(0x8000)) < thr
                S[j] = S[j] + (alpha * (x[j] - bb[j])) * (one if keep else zero)
                c += 1 if keep else 0
        return c

    # -- running sums ---------------------------------------------------------------------------

    @_jit
    def acc_linear(D, S, m, w, first):
        if first:
            for j in range(m):
                S[j] = D[j] * w
        else:
            for j in range(m):
                S[j] = fma(D[j], w, S[j])

    @_jit
    def acc_consensus(D, S, P, A, B, m, ws, wa, first, norm, one, zero):
        """S += ws d, P += ws relu(d) (fma, as Tensor.add_(alpha)); with norm A += wa sign(d),
        B += wa sign(d)^2 (exact products, one rounding per add)."""
        if first:
            if norm:
                for j in range(m):
                    d = D[j]
                    S[j] = d * ws
                    P[j] = relu(d, zero) * ws
                    sg = (one if d > zero else zero) - (one if d < zero else zero)
                    A[j] = sg * wa
                    B[j] = (sg * sg) * wa
            else:
                for j in range(m):
                    d = D[j]
                    S[j] = d * ws
                    P[j] = relu(d, zero) * ws
        else:
            if norm:
                for j in range(m):
                    d = D[j]
                    S[j] = fma(d, ws, S[j])
                    P[j] = fma(relu(d, zero), ws, P[j])
                    sg = (one if d > zero else zero) - (one if d < zero else zero)
                    A[j] = fma(sg, wa, A[j])
                    B[j] = B[j] + (wa * sg) * sg
            else:
                for j in range(m):
                    d = D[j]
                    S[j] = fma(d, ws, S[j])
                    P[j] = fma(relu(d, zero), ws, P[j])

    # -- finish ---------------------------------------------------------------------------------

    @_jit
    def finish_linear(S, bb, o, m, scale):
        for j in range(m):
            o[j] = fma(S[j], scale, bb[j])

    @_jit
    def finish_consensus(S, P, A, B, bb, o, m, lam, norm, one, zero, big):
        """taskvec._finish_consensus: mixed = copysign(P, S) + clamp_max(S, 0); with norm
        nan_to_num(mixed / (B + copysign(1, S) A)) and lam = 2 lambda; o = fma(., lam, base)."""
        if norm:
            for j in range(m):
                s = S[j]
                mixed = math.copysign(P[j], s) + clamp_max0(s, zero)
                q = mixed / (B[j] + A[j] * math.copysign(one, s))
                o[j] = fma(nan_to_num(q, zero, big), lam, bb[j])
        else:
            for j in range(m):
                s = S[j]
                mixed = math.copysign(P[j], s) + clamp_max0(s, zero)
                o[j] = fma(mixed, lam, bb[j])

    @_jit
    def copy_block(bb, o, m):
        for j in range(m):
            o[j] = bb[j]
