"""Fused CPU loops (numba) for the operators whose eager-torch form takes several passes per chunk.

Why: on a CPU, eager torch runs one pass over the data per op. An operator of n ops over a chunk
that stays in cache still pays about a quarter of a STREAM add per extra pass (measured), so
slerp (3 reductions and a combine), uniform crossover (a 9-op hash, then a select) and TIES /
DARE (about 20 ops per chunk, in fused_taskvec.py) cannot come near the memory bandwidth, and a
region box copies short strided rows. Here each of them is one loop that reads every input once
and writes the output once.

Contract, the same as the torch kernels':
    * the same bits for selection (the counter-based hash of rng.py, reproduced bit for bit:
      ``tests/merge_kernels/test_fused.py`` checks masks against rng.fill_hash);
    * float results within rounding of the torch path (loops accumulate in float32, float64 for
      float64 data, in a fixed order per frame or per element), so bitwise deterministic on one
      machine and independent of the chunk size;
    * GIL released (``nogil``): a merge in a server thread does not stall the others.

The torch kernels stay: they run on CUDA tensors, when numba is missing, and under
:func:`torch_only` (tests compare the two paths). :func:`enable` turns the loops off (or on again)
for the process: the service calls it at start-up from its settings (``MULTIVERSE_FUSED``); nothing here
reads the environment.

Compiled code is cached on disk by numba (``cache=True``): the first call of each loop on a new
machine compiles it (about 0.3 to 1 s), later processes load it.
"""

from __future__ import annotations

import contextlib
import math
import threading

import torch

try:  # numba is a dependency of the package; the torch kernels remain if it cannot load
    import numba
    import numpy as np
except ImportError:  # pragma: no cover - exercised only where numba is not installed
    numba = None
    np = None

__all__ = ["active", "enable", "torch_only"]

_state = threading.local()
_enabled = True  # the process-wide switch (enable); torch_only is the per-thread one


def enable(on: bool = True) -> None:
    """Turn the fused loops on or off for the whole process (off: every operator runs its torch kernel)."""
    global _enabled
    _enabled = bool(on)


def active(*tensors: torch.Tensor) -> bool:
    """Whether the fused loops handle these tensors: numba present, enabled, all on the CPU and
    contiguous."""
    return (numba is not None and _enabled and not getattr(_state, "off", False)
            and all(t.device.type == "cpu" and t.is_contiguous() for t in tensors))


@contextlib.contextmanager
def torch_only():
    """Within this block (on this thread) every operator runs its eager torch kernel."""
    before = getattr(_state, "off", False)
    _state.off = True
    try:
        yield
    finally:
        _state.off = before


def as_numpy(t: torch.Tensor):
    """A zero-copy numpy view of a contiguous CPU tensor (the caller keeps t alive)."""
    return t.detach().numpy()


#: Elements whose lanes are hashed at once into an L1-resident buffer before they are used.
LANE_BLOCK = 4096


def lane_scratch(block: int = LANE_BLOCK):
    """(hb, lanes): a uint32 buffer of block / 2 hashes and its uint16 view of ``block`` lanes
    (little-endian: lane 0 of hash c is lanes[2c], lane 1 is lanes[2c + 1], as rng.lanes16)."""
    hb = np.empty(block // 2, np.uint32)
    return hb, hb.view(np.uint16)


def key_segments(key, start: int, stop: int):
    """Split element range [start, stop) so that the lane counters (element >> 1) of each part share
    their high 32 bits: yields (e0, e1, k1, k2) with the part's key words as numpy uint32. e0 is even
    except possibly the first."""
    e = start
    while e < stop:
        hi = (e >> 1) >> 32
        end = min(stop, ((hi + 1) << 32) << 1)
        k1, k2 = key.at(hi)
        yield e, end, np.uint32(k1), np.uint32(k2)
        e = end


if numba is not None:
    _jit = numba.njit(cache=True, nogil=True)
    # reassociation (vectorized reductions) and FMA contraction, but no no-NaN / no-inf / reciprocal
    # assumptions: NaN and inf inputs propagate as in torch
    _jit_fast = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
    _inline = numba.njit(inline="always", nogil=True)

    _M1 = np.uint32(0x7FEB352D)
    _M2 = np.uint32(0x846CA68B)

    @_inline
    def hash32(c, k1, k2):
        """rng.hash_reference of counter c under (k1, k2), all uint32 (the arithmetic wraps in
        32 bits, which lets LLVM vectorize it 16 lanes wide)."""
        x = np.uint32(c + k1)
        x = np.uint32(x * _M1)
        x ^= x >> np.uint32(15)
        x ^= k2
        x = np.uint32(x * _M2)
        x ^= x >> np.uint32(16)
        return x

    @_inline
    def fill_hashes(hb, c0, k1, k2):
        """hb[j] = hash32(c0 + j) for every j (hb uint32; c0 + j must not cross a multiple of 2**32,
        where the key changes: callers split ranges with :func:`key_segments`)."""
        cb = np.uint32(c0 & 0xFFFFFFFF)
        for j in range(hb.shape[0]):
            hb[j] = hash32(np.uint32(cb + np.uint32(j)), k1, k2)

    @_jit
    def fill_lanes(out, start, k1, k2, hb, lanes):
        """out[i] = lane of element start + i as an unsigned number in [0, 65536) (rng.lanes16's
        signed lane + 32768), for tests. ``start`` even; hb uint32 [B/2], lanes = hb.view(uint16)."""
        B = lanes.shape[0]
        for b0 in range(0, out.shape[0], B):
            m = min(B, out.shape[0] - b0)
            fill_hashes(hb, (start + b0) >> 1, k1, k2)
            for i in range(m):
                out[b0 + i] = lanes[i] ^ np.uint16(0x8000)

    # -- slerp -------------------------------------------------------------------------------

    @_jit
    def slerp_coefficients(d, na2, nb2, t, thr, eps):
        """(s0, s1, 1 if lerp else 0) of one frame from a.b, |a|^2, |b|^2: the float64 arithmetic of
        interpolate.slerp_coefficients, without fast-math (t = 0 gives s0 = 1 exactly)."""
        ua = math.sqrt(na2)
        ub = math.sqrt(nb2)
        if ua <= eps:
            ua = 1.0
        if ub <= eps:
            ub = 1.0
        cos = d / (ua * ub)
        if abs(cos) > thr:
            return 1.0 - t, t, 1
        theta = cos if math.isnan(cos) else math.acos(min(1.0, max(-1.0, cos)))  # NaN stays NaN
        s = math.sin(theta)
        return math.sin(theta - theta * t) / s, math.sin(theta * t) / s, 0

    @_jit_fast
    def slerp_rows(A, B, O, t, thr, eps):
        """Per row (frame): dot, |a|^2, |b|^2 in one pass, the coefficients in float64 (as
        interpolate.slerp_coefficients), then O = s0 a + s1 b. Returns the number of lerp rows."""
        n_lerp = 0
        rows, F = A.shape
        for r in range(rows):
            a = A[r]
            b = B[r]
            o = O[r]
            d = a[0] * 0
            na = a[0] * 0
            nb = a[0] * 0
            for i in range(F):
                x = a[i]
                y = b[i]
                d += x * y
                na += x * x
                nb += y * y
            s0, s1, is_lerp = slerp_coefficients(float(d), float(na), float(nb), t, thr, eps)
            n_lerp += is_lerp
            f0 = a.dtype.type(s0)
            f1 = a.dtype.type(s1)
            for i in range(F):
                o[i] = f0 * a[i] + f1 * b[i]
        return n_lerp

    # -- uniform crossover -------------------------------------------------------------------

    @_inline
    def _select_inline(XS, o, r, q0, m, lanes, cuts, counts):
        """uniform_rows' select for element units (C = 1) and 3 or 4 parents in one loop: each lane is
        compared with the cuts where it is used, no mask buffers. counts as uniform_rows (nested)."""
        K = len(XS)
        c0 = np.int32(cuts[0])
        c1 = np.int32(cuts[1])
        c2 = np.int32(cuts[K - 2])  # K = 3: unused (equal to c1)
        x0 = XS[0][r, 0, q0:q0 + m]
        x1 = XS[1][r, 0, q0:q0 + m]
        x2 = XS[2][r, 0, q0:q0 + m]
        xl = XS[K - 1][r, 0, q0:q0 + m]
        n0 = 0
        n1 = 0
        n2 = 0
        for q in range(m):  # the counts: a reduction over the lanes alone
            u = np.int32(lanes[q] ^ np.uint16(0x8000))
            n0 -= (u - c0) >> np.int32(31)
            n1 -= (u - c1) >> np.int32(31)
            n2 -= (u - c2) >> np.int32(31)
        if K == 4:
            counts[2] += n2
            for q in range(m):
                u = np.int32(lanes[q] ^ np.uint16(0x8000))
                v = xl[q]
                v = v ^ ((x2[q] ^ v) & o.dtype.type((u - c2) >> np.int32(31)))
                v = v ^ ((x1[q] ^ v) & o.dtype.type((u - c1) >> np.int32(31)))
                o[q] = v ^ ((x0[q] ^ v) & o.dtype.type((u - c0) >> np.int32(31)))
        else:
            for q in range(m):
                u = np.int32(lanes[q] ^ np.uint16(0x8000))
                v = xl[q]
                v = v ^ ((x1[q] ^ v) & o.dtype.type((u - c1) >> np.int32(31)))
                o[q] = v ^ ((x0[q] ^ v) & o.dtype.type((u - c0) >> np.int32(31)))
        counts[0] += n0
        counts[1] += n1

    @_jit
    def uniform_rows(XS, O, unit0, cuts, k1, k2, hb, lanes, masks, counts):
        """Uniform crossover on [rows, C, Q] integer views: unit (r, q) (absolute index unit0 +
        r * Q + q) picks parent j = #{i : lane >= cuts[i]} for all C of its elements (C = 1 for
        element units, C = channels for spatial cells). counts[r, j] += units of row r taking j.

        Per block of Q: the lanes are hashed into hb (lanes = its uint16 view, 2 spare entries so
        an odd unit offset can be read at lanes[1:]), turned into all-ones / zero masks, then each
        channel row is selected branch-free: o = x_last, then o = x_j where unit takes j.
        """
        rows = O.shape[0]
        C = O.shape[1]
        Q = O.shape[2]
        K = len(XS)
        QB = masks.shape[1]
        for r in range(rows):
            for q0 in range(0, Q, QB):
                m = min(QB, Q - q0)
                u0 = unit0 + r * Q + q0
                fill_hashes(hb, u0 >> 1, k1, k2)
                off = u0 & 1
                counts[r, K - 1] += m
                if C == 1 and (K == 3 or K == 4):  # element units: masks made in the select loop
                    _select_inline(XS, O[r, 0, q0:q0 + m], r, q0, m, lanes[off:off + m], cuts, counts[r])
                    continue
                for j in range(K - 1):
                    cut = np.int32(cuts[j])
                    mk = masks[j]
                    n_in = 0
                    for q in range(m):
                        neg = (np.int32(lanes[q + off] ^ np.uint16(0x8000)) - cut) >> np.int32(31)
                        mk[q] = neg
                        n_in -= neg
                    counts[r, j] += n_in  # units taking a parent <= j (nested sets)
                for c in range(C):
                    o = O[r, c, q0:q0 + m]
                    if K == 2:
                        x0 = XS[0][r, c, q0:q0 + m]
                        x1 = XS[1][r, c, q0:q0 + m]
                        mk = masks[0]
                        for q in range(m):
                            v0 = x0[q]
                            v1 = x1[q]
                            o[q] = v1 ^ ((v0 ^ v1) & mk[q])
                    elif K == 4:  # the common case of more parents, in one pass
                        x0 = XS[0][r, c, q0:q0 + m]
                        x1 = XS[1][r, c, q0:q0 + m]
                        x2 = XS[2][r, c, q0:q0 + m]
                        x3 = XS[3][r, c, q0:q0 + m]
                        m0 = masks[0]
                        m1 = masks[1]
                        m2 = masks[2]
                        for q in range(m):
                            v = x3[q]
                            v2 = x2[q]
                            v = v ^ ((v2 ^ v) & m2[q])
                            v1 = x1[q]
                            v = v ^ ((v1 ^ v) & m1[q])
                            v0 = x0[q]
                            o[q] = v ^ ((v0 ^ v) & m0[q])
                    elif K == 3:
                        x0 = XS[0][r, c, q0:q0 + m]
                        x1 = XS[1][r, c, q0:q0 + m]
                        x2 = XS[2][r, c, q0:q0 + m]
                        m0 = masks[0]
                        m1 = masks[1]
                        for q in range(m):
                            v = x2[q]
                            v1 = x1[q]
                            v = v ^ ((v1 ^ v) & m1[q])
                            v0 = x0[q]
                            o[q] = v ^ ((v0 ^ v) & m0[q])
                    else:
                        xl = XS[K - 1][r, c, q0:q0 + m]
                        for q in range(m):
                            o[q] = xl[q]
                        for j in range(K - 2, -1, -1):
                            x = XS[j][r, c, q0:q0 + m]
                            mk = masks[j]
                            for q in range(m):
                                v0 = x[q]
                                v1 = o[q]
                                o[q] = v1 ^ ((v0 ^ v1) & mk[q])
        # counts[r, j] now holds units taking a parent <= j; make them per parent
        for r in range(rows):
            for j in range(K - 1, 0, -1):
                counts[r, j] -= counts[r, j - 1]


# -- drivers (called by the operator modules when active(out)) ------------------------------------

#: Units whose lanes are made at once in uniform_rows (the masks of a block stay in L1).
UNIT_BLOCK = 2048


def slerp_frames(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, t: float, thr: float, eps: float) -> int:
    """slerp_rows on [rows, F] float32 / float64 tensors (contiguous, CPU); returns lerp rows."""
    return int(slerp_rows(as_numpy(a), as_numpy(b), as_numpy(out), float(t), float(thr), float(eps)))


def uniform_select(xs: list, out: torch.Tensor, unit0: int, cuts: list[int], key) -> torch.Tensor | None:
    """uniform_rows on [rows, C, Q] integer views; returns counts [rows, K] (int64 tensor), or None
    when the unit indices would cross a 2**33 boundary (the key changes there: the caller then takes
    the torch kernel)."""
    rows, _, Q = out.shape
    n_units = rows * Q
    if (unit0 >> 33) != ((unit0 + n_units) >> 33):
        return None
    k1, k2 = key.at(unit0 >> 33)
    qb = min(UNIT_BLOCK, max(Q, 2) + (max(Q, 2) & 1))
    hb = np.empty(qb // 2 + 1, np.uint32)
    lanes = hb.view(np.uint16)
    masks = np.empty((max(len(xs) - 1, 1), qb), dtype=as_numpy(out).dtype)
    counts = np.zeros((rows, len(xs)), np.int64)
    cut_arr = np.array([c + 32768 for c in cuts] or [0], np.int64)
    uniform_rows(tuple(as_numpy(x) for x in xs), as_numpy(out), unit0, cut_arr, np.uint32(k1), np.uint32(k2),
                 hb, lanes, masks, counts)
    return torch.from_numpy(counts)


def warm_up() -> None:
    """Compile (first run on a machine) or load from numba's cache the loops a cross of float16 /
    float32 latents uses, so that the first request does not wait for them. A server calls this
    on a background thread at start-up."""
    if numba is None:
        return
    for dt in (torch.float32, torch.float16):
        a = torch.zeros(2, 4, dtype=dt)
        slerp_frames(a.float(), a.float(), torch.empty(2, 4), 0.5, 0.9995, 1e-8)
        iv = a.view(torch.int16 if dt == torch.float16 else torch.int32).view(2, 1, 4)
        for k in (2, 3, 4):
            uniform_select([iv] * k, torch.empty_like(iv), 0, [0] * (k - 1), _WARM_KEY)


class _Key:
    """A fixed key for warm_up (the output is thrown away)."""

    def at(self, hi: int) -> tuple[int, int]:
        return 1, 2


_WARM_KEY = _Key()
