"""Global magnitude thresholds without a full sort ("keep the r largest |tau| of the whole tensor").

"Density per task" means over the whole tensor, so each task gets one global threshold; it is
found before the output is written, in one of two ways (``threshold`` parameter):

exact   a two-pass radix select over the float32 bit patterns of |tau| (bits of a non-negative
        float order like the float): pass 1 histograms the top 16 bits chunk by chunk, pass 2
        the low 16 bits inside the boundary bucket. Memory: two 64 K-bin histograms. Ties at the
        threshold are broken by flat index (the first ones are kept), so exactly r entries are
        kept. For n <= sample_size the |tau| values are small enough to select on all of them
        directly (:func:`top_value`).
sample  the r-th largest of a stratified sample of ``sample_size`` entries (one random entry per
        stratum of n / sample_size consecutive entries, positions from the seed), found by
        :func:`top_value` (one 16-bit radix histogram, then torch.kthvalue inside the one bucket
        that holds it: the same value as torch.kthvalue on the whole sample). The kept share
        then deviates from the requested density by a binomial error: standard deviation
        sqrt(d (1 - d) / sample_size) <= 0.5 / sqrt(sample_size) = 0.00049 for the default
        2**20, so within +-0.0025 (5 sigma). Ties at the sampled threshold are kept with the
        probability that reproduces the sample's share.
auto    exact when n <= sample_size (the sample would be the whole tensor), else sample.

A :class:`Cut` says which entries belong to the top r: ``|tau| > value``, plus entries with
``|tau| == value``: all (ties="all"), the first ``take`` in flat order (ties="prefix"), or each
with probability ``q`` (ties="prob", counter-based hash). Cuts of one task for two ranks r1 < r2
are nested, which breadcrumbs relies on (keep ranks (r1, r2] = top(r2) minus top(r1)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import rng
from ._core import Workspace, flat_chunks

SAMPLE_SIZE = 1 << 20

# TaskChunk(e0, e1) -> |tau| of elements [e0, e1) as a float32/float64 tensor (may be a scratch buffer)
AbsChunk = Callable[[int, int], torch.Tensor]


@dataclass
class Cut:
    """Membership in the top r by magnitude (see module doc). ``keep_all`` / ``keep_none`` short-cut."""

    rank: int
    n: int
    value: float = 0.0
    ties: str = "all"
    take: int = 0
    q: float = 1.0
    key: rng.Key | None = None
    mode: str = "exact"
    state: dict = field(default_factory=dict)

    @property
    def keep_all(self) -> bool:
        return self.rank >= self.n

    @property
    def keep_none(self) -> bool:
        return self.rank <= 0

    def lambd_strict(self) -> float:
        """hardshrink parameter keeping |x| > value."""
        return self.value

    def lambd_inclusive(self, dtype: torch.dtype) -> float:
        """hardshrink parameter keeping |x| >= value: the next ``dtype`` float below value."""
        v = torch.tensor(self.value, dtype=dtype)
        return float(torch.nextafter(v, torch.tensor(-math.inf, dtype=dtype)).item())

    def expected_kept(self) -> float:
        return float(self.rank)


def _abs_bits(a: torch.Tensor) -> torch.Tensor:
    """Bit patterns of non-negative floats as integers of the same width (order-preserving)."""
    return a.view(torch.int32 if a.element_size() == 4 else torch.int64)


def top_value(a: torch.Tensor, r: int, ws: Workspace | None = None) -> tuple[torch.Tensor, int, int]:
    """The r-th largest of the non-negative 1-D float tensor ``a`` (1 <= r <= a.numel()), with the
    number of entries greater than it and equal to it: (value, greater, equal).

    The same value as ``torch.kthvalue(a, numel - r + 1)`` (so the same cut), found by a radix
    step instead of a selection over all entries: the top 16 bits of the bit patterns (which
    order like the floats, NaN above inf) are histogrammed, the bucket holding the r-th largest
    is found from the cumulative counts, and kthvalue runs on that bucket's entries only (for a
    2**20 sample about 5x faster than kthvalue on all of it).
    """
    bits = _abs_bits(a)
    shift = bits.element_size() * 8 - 16
    scratch = None if ws is None else ws.buf("top.digit", a.numel(), bits.dtype)
    digit = torch.bitwise_right_shift(bits, shift, out=scratch)  # in [0, 32768): |x| has no sign bit
    hist = torch.bincount(digit.view(-1), minlength=32768)
    desc = torch.flip(hist, [0]).cumsum(0)  # entries at or above each digit, from the top
    idx = int(torch.searchsorted(desc, torch.tensor([r], dtype=desc.dtype, device=desc.device)).item())
    above = int(desc[idx - 1].item()) if idx > 0 else 0
    bucket = a[digit == 32767 - idx]  # the entries sharing the r-th largest's top 16 bits
    v = torch.kthvalue(bucket, bucket.numel() - (r - above) + 1).values
    return v, above + int((bucket > v).sum()), int((bucket == v).sum())


def exact_cuts(abs_chunk: AbsChunk, n: int, ranks: list[int], chunk: int, ws: Workspace) -> list[Cut]:
    """Exact top-r cuts over all n entries (radix select for large n, kthvalue for small)."""
    cuts = [Cut(rank=r, n=n) for r in ranks]
    todo = [c for c in cuts if not (c.keep_all or c.keep_none)]
    if not todo:
        return cuts
    if n <= SAMPLE_SIZE:
        a = abs_chunk(0, n).clone()
        for c in todo:
            _finish(c, *top_value(a, c.rank, ws))
        return cuts
    probe = abs_chunk(0, 1)
    shifts = (16, 0) if probe.element_size() == 4 else (48, 32, 16, 0)
    for c in todo:
        prefix = 0  # the digits found so far, as an integer
        above = 0  # entries strictly greater than the prefix bucket
        for level, s in enumerate(shifts):
            hist = _digit_histogram(abs_chunk, n, chunk, ws, s, prefix, level)
            need = c.rank - above  # rank inside this bucket, counted from the top
            desc = torch.flip(hist, [0]).cumsum(0)  # entries at or above each digit, from the top
            idx = int(torch.searchsorted(desc, torch.tensor([need], dtype=desc.dtype, device=desc.device)).item())
            digit = 65535 - idx
            above += int(desc[idx - 1].item()) if idx > 0 else 0
            prefix = (prefix << 16) | digit
            equal = int(hist[digit].item())
        dtype = torch.float32 if probe.element_size() == 4 else torch.float64
        ivalue = torch.tensor([_signed(prefix, probe.element_size() * 8)],
                              dtype=torch.int32 if dtype == torch.float32 else torch.int64)
        _finish(c, ivalue.view(dtype)[0], above, equal)
    return cuts


def _signed(x: int, bits: int) -> int:
    return x - (1 << bits) if x >= (1 << (bits - 1)) else x


def _digit_histogram(abs_chunk: AbsChunk, n: int, chunk: int, ws: Workspace, shift: int, prefix: int,
                     level: int) -> torch.Tensor:
    """Counts of the 16-bit digit at ``shift`` among entries whose higher digits equal ``prefix``."""
    hist = None
    for e0, e1 in flat_chunks(n, chunk):
        bits = _abs_bits(abs_chunk(e0, e1))
        d = ws.buf("radix", e1 - e0, bits.dtype)
        torch.bitwise_right_shift(bits, shift, out=d)
        if level > 0:
            d.sub_(prefix << 16)  # entries of this bucket land in [0, 65536), others outside
            d.clamp_(-1, 65536).add_(1)
            h = torch.bincount(d, minlength=65538)[1:65537]
        else:
            h = torch.bincount(d, minlength=65536)[:65536]
        hist = h if hist is None else hist + h
    return hist


def _finish(c: Cut, v: torch.Tensor, greater: int, equal: int) -> None:
    c.value = float(v)
    c.mode = "exact"
    take = c.rank - greater
    if take >= equal:
        c.ties = "all"
    elif take <= 0:
        c.ties = "none"
    else:
        c.ties, c.take = "prefix", take
        c.state["left"] = take


def sample_positions(n: int, size: int, key: rng.Key, device, ws: Workspace) -> torch.Tensor:
    """Stratified positions: one per stratum [j n/size, (j+1) n/size), uniform inside it."""
    # u: the 24-bit uniforms, exact in float64 as in float32; then floor((j + u) * n / size) in
    # float64 (j + u >= 0, so the truncation of .copy_ is the floor), in workspace buffers
    u = rng.uniform(ws, ws.buf("sample.u", size, torch.float64), 0, key)
    j = torch.arange(size, dtype=torch.float64, device=device, out=ws.buf("sample.j", size, torch.float64))
    u.add_(j).mul_(n / size)
    pos = ws.buf("sample.pos", size, torch.int64).copy_(u)
    return pos.clamp_max_(n - 1)


def sampled_cuts(abs_sample: torch.Tensor, n: int, ranks: list[int], key: rng.Key,
                 ws: Workspace | None = None) -> list[Cut]:
    """Cuts estimated from |tau| at sampled positions (see module doc for the tolerance)."""
    s = abs_sample.numel()
    cuts = []
    for r in ranks:
        c = Cut(rank=r, n=n, mode="sample", key=key)
        cuts.append(c)
        if c.keep_all or c.keep_none:
            continue
        rs = min(s, max(1, round(r * s / n)))
        v, greater, equal = top_value(abs_sample, rs, ws)
        c.value = float(v)
        q = (rs - greater) / equal
        if q >= 1.0:
            c.ties = "all"
        elif q <= 0.0:
            c.ties = "none"
        else:
            c.ties, c.q = "prob", q
    return cuts


def keep_top(tau: torch.Tensor, cut: Cut, e0: int, out: torch.Tensor, ws: Workspace) -> torch.Tensor:
    """out = tau where the entry is in the cut's top set, else 0. Returns out (may alias tau)."""
    if cut.keep_all:
        return out.copy_(tau) if out is not tau else out
    if cut.keep_none:
        return out.zero_()
    if cut.ties == "all":
        return torch.ops.aten.hardshrink.out(tau, cut.lambd_inclusive(tau.dtype), out=out)
    if cut.ties == "none":
        return torch.ops.aten.hardshrink.out(tau, cut.lambd_strict(), out=out)
    # ties broken by flat order or by hash: tie entries are those with |tau| == value exactly
    eq = ws.buf("ties.eq", tau.numel(), torch.bool)
    torch.eq(tau.abs(), cut.value, out=eq)
    if cut.ties == "prefix":
        left = cut.state["left"]
        if left > 0:
            cs = eq.cumsum(0)
            pick = eq & (cs <= left)
            cut.state["left"] = max(0, left - int(eq.sum()))
        else:
            pick = torch.zeros_like(eq)
    else:
        coin = ws.buf("ties.coin", tau.numel(), tau.dtype)
        rng.bernoulli(ws, coin, e0, cut.key, cut.q)
        pick = eq & coin.bool()
    keep = torch.where(pick, tau, torch.zeros((), dtype=tau.dtype, device=tau.device))
    torch.ops.aten.hardshrink.out(tau, cut.lambd_strict(), out=out)
    return out.add_(keep)
