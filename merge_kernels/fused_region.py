"""The fused CPU loop (numba) of the region crossover: out = one parent with a box taken from the other, each
output byte written once, in the widest word the geometry allows (see fused.py for the loops' contract)."""

from __future__ import annotations

import functools
import math

import torch

from .fused import as_numpy

try:  # numba is a dependency of the package; the torch kernels remain if it cannot load
    import numba
    import numpy as np
except ImportError:  # pragma: no cover - fused.active() is False without numba
    numba = None
    np = None

__all__ = ["region_copy"]

#: Widest first: the element a region copy moves at once (complex128 moves 16 bytes, bits untouched).
_WORDS = ((16, np.complex128), (8, np.int64), (4, np.int32), (2, np.int16), (1, np.int8)) if np else ()


@functools.lru_cache(maxsize=64)
def _region_kernel(L: int, lo: int, hi: int):
    """A copy loop compiled for one row geometry: with L, lo, hi constants the three short copies of
    a row unroll into a few vector moves (as runtime bounds, loop set-up per row costs more than the
    copy: 0.46 of STREAM against 0.71 for a box of 64-byte half rows). One compile per geometry
    (~0.3 s), kept for the process."""

    @numba.njit(nogil=True)
    def copy_rows(XIN, XOUT, O, row_in):
        for r in range(O.shape[0]):
            if row_in[r]:
                for i in range(lo):
                    O[r, i] = XOUT[r, i]
                for i in range(lo, hi):
                    O[r, i] = XIN[r, i]
                for i in range(hi, L):
                    O[r, i] = XOUT[r, i]
            else:
                for i in range(L):
                    O[r, i] = XOUT[r, i]

    return copy_rows


def region_copy(xin: torch.Tensor, xout: torch.Tensor, out: torch.Tensor, box: dict) -> None:
    """out = xout with the box {axis: (lo, hi)} taken from xin (all of one shape, contiguous, CPU).

    Rows are cut at the last boxed axis a: a row spans shape[a] x (the elements after a); a row
    inside the box on the other axes takes [lo, hi) x those elements from xin. Every output byte is
    written once, from one parent.
    """
    shape = tuple(out.shape)
    a = max(box)
    tail = math.prod(shape[a + 1:])
    L, lo, hi = shape[a] * tail, box[a][0] * tail, box[a][1] * tail
    lead = shape[:a]
    row_in = torch.ones(lead, dtype=torch.bool)
    for ax, (l0, h0) in box.items():
        if ax < a:
            sel = [slice(None)] * len(lead)
            sel[ax] = slice(l0, h0)
            keep = torch.zeros(lead, dtype=torch.bool)
            keep[tuple(sel)] = True
            row_in &= keep
    isz = out.element_size()
    ptrs = (xin.data_ptr(), xout.data_ptr(), out.data_ptr())
    nbytes, word = L * isz, np.int8
    for w, dt in _WORDS:
        if all(v % w == 0 for v in (nbytes, lo * isz, hi * isz, *ptrs)):
            word = dt
            break
    k = np.dtype(word).itemsize
    views = [as_numpy(t.reshape(-1).view(torch.uint8)).view(word).reshape(-1, nbytes // k) for t in (xin, xout, out)]
    _region_kernel(nbytes // k, lo * isz // k, hi * isz // k)(*views, as_numpy(row_in.reshape(-1)))
