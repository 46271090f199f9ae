"""Counter-based randomness: a pure function of (seed, op position, stream, task, element index).

No global RNG state and no torch.Generator: every random number is a 32-bit hash of its
absolute element index under a key derived from the call's seed and the path that names the
stream (``(op_index, "dare", task)``...). So a mask depends on neither the chunk size, the
order in which chunks run, the order of tasks, nor the device: CPU and CUDA give the same bits
(integer ops only). The hash is computed with a handful of fused in-place int32 torch ops on
the tensor's device.

Hash (all arithmetic mod 2**32, ``>>>`` a logical shift; a variant of Wellons' lowbias32 with
the key injected twice)::

    x = c + k1;  x *= 0x7feb352d;  x ^= x >>> 15;  x ^= k2;  x *= 0x846ca68b;  x ^= x >>> 16

where ``c`` is the low 32 bits of the element index and ``(k1, k2)`` = blake2b(seed, path,
c >> 32). :func:`hash_reference` is the same function in plain Python (tests check the two agree).
Cost: 9 int32 ops per block of hashes, with the iota * M1 of the first step cached per thread and
the constants as 0-dim int32 tensors (a Python int operand costs ~1 us more per op).

Consumers:
    lanes16        two 16-bit uniforms per hash: element e uses lane e & 1 of hash e >> 1
    bernoulli      mask with P(1) = p_eff = round(p * 65536) / 65536 (so p is honoured to 2**-17)
    uniform        24-bit uniforms in (0, 1): u = ((h >>> 8) + 0.5) / 2**24
    normal         Box-Muller on two uniform streams: z = sqrt(-2 ln u1) cos(2 pi u2)
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import torch

__all__ = [
    "Key",
    "bernoulli",
    "bernoulli_allones",
    "fill_hash",
    "hash_reference",
    "lane_threshold",
    "lanes16",
    "normal",
    "uniform",
]

_MASK32 = 0xFFFFFFFF
_M1 = 0x7FEB352D
_M2 = 0x846CA68B


def _s32(x: int) -> int:
    """The signed int32 with the same low 32 bits as x (torch int32 scalars must fit)."""
    x &= _MASK32
    return x - (1 << 32) if x >= (1 << 31) else x


@functools.lru_cache(maxsize=4096)
def _derive(seed: int, path: tuple, hi: int) -> tuple[int, int]:
    h = hashlib.blake2b(repr((seed, path, hi)).encode(), digest_size=8, person=b"mk-rng-v1").digest()
    return int.from_bytes(h[:4], "little"), int.from_bytes(h[4:], "little")


@dataclass(frozen=True)
class Key:
    """The key of one random stream: the call's seed and a path naming the stream."""

    seed: int
    path: tuple

    def at(self, hi: int) -> tuple[int, int]:
        """(k1, k2) for element indices whose high 32 bits are ``hi``."""
        return _derive(self.seed, self.path, hi)

    def child(self, *more) -> Key:
        return Key(self.seed, self.path + tuple(more))


def hash_reference(key: Key, index: int) -> int:
    """The hash of one element index in plain Python (an unsigned 32-bit int)."""
    k1, k2 = key.at(index >> 32)
    x = ((index & _MASK32) + k1) & _MASK32
    x = (x * _M1) & _MASK32
    x ^= x >> 15
    x ^= k2
    x = (x * _M2) & _MASK32
    x ^= x >> 16
    return x


@functools.lru_cache(maxsize=4096)
def _const(v: int) -> torch.Tensor:
    """A 0-dim int32 CPU tensor: as an operand it costs ~1 us less per op than a Python int (which
    torch wraps and converts on every call), and it acts as a scalar on CUDA tensors too."""
    return torch.tensor(v, dtype=torch.int32)


_C = {"m1": _const(_s32(_M1)), "m2": _const(_s32(_M2)), "15": _const(15), "16": _const(16),
      "17bits": _const(0x1FFFF), "16bits": _const(0xFFFF)}


def fill_hash(out: torch.Tensor, start: int, key: Key, iota: torch.Tensor, tmp: torch.Tensor, *,
              scaled: bool = False) -> torch.Tensor:
    """Write the hashes of element indices [start, start + n) into ``out`` (int32, 1-D).

    ``iota`` is an int32 arange at least n long, or with ``scaled=True`` that arange already
    multiplied by M1 (wrapping; ``Workspace.iota(n, M1)`` caches it), and ``tmp`` an
    int32 scratch as long as ``out``, both on out's device. Returns ``out``.

    Cost: (c + k1) * M1 = i * M1 + (lo + k1) * M1 (mod 2**32), so with a scaled iota the first
    step is one add; the logical shifts are an arithmetic shift and a mask (torch has no uint32
    shift on the CPU): 9 int32 ops per hash, or 10 with a plain iota.
    """
    n = out.numel()
    pos = 0
    while pos < n:
        c = start + pos
        hi, lo = c >> 32, c & _MASK32
        seg = min(n - pos, (1 << 32) - lo)
        k1, k2 = key.at(hi)
        whole = pos == 0 and seg == n
        o = out if whole else out[pos:pos + seg]
        t = tmp if whole and tmp.numel() == n else tmp[:seg]
        i = iota if iota.numel() == seg else iota[:seg]
        if scaled:
            torch.add(i, _s32((lo + k1) * _M1), out=o)
        else:
            torch.add(i, _s32(lo + k1), out=o)
            o.mul_(_C["m1"])
        torch.bitwise_right_shift(o, _C["15"], out=t)
        t.bitwise_and_(_C["17bits"])
        o.bitwise_xor_(t)
        o.bitwise_xor_(_const(_s32(k2)))
        o.mul_(_C["m2"])
        torch.bitwise_right_shift(o, _C["16"], out=t)
        t.bitwise_and_(_C["16bits"])
        o.bitwise_xor_(t)
        pos += seg
    return out


def _hash_ws(ws, name: str, n: int, start: int, key: Key) -> torch.Tensor:
    """The hashes of [start, start + n) in the workspace buffer ``name`` (int32, 1-D)."""
    h = ws.buf(name, n, torch.int32)
    return fill_hash(h, start, key, ws.iota(n, _s32(_M1)), ws.buf(name + ".tmp", n, torch.int32), scaled=True)


def lanes16(ws, n: int, start: int, key: Key, name: str = "lanes") -> torch.Tensor:
    """int16 uniforms for elements [start, start + n): element e is lane (e & 1) of hash(e >> 1).

    Signed lanes: value + 32768 is uniform on [0, 65536).
    """
    c0 = start >> 1
    c1 = (start + n + 1) >> 1
    h = _hash_ws(ws, name, c1 - c0, c0, key)
    off = start & 1
    return h.view(torch.int16)[off:off + n]


def lane_threshold(p: float) -> int:
    """The int16-lane threshold t with P(lane < t) = round(p * 65536) / 65536, in [-32768, 32768]."""
    return round(p * 65536.0) - 32768


def lane_operand(t: int):
    """A lane threshold as a compare operand: a cached 0-dim int16 tensor (about 5 us cheaper per
    compare than a Python int) when it fits int16, else the int itself (t = 32768 or -32768)."""
    return _const16(t) if -32768 <= t < 32768 else t


@functools.lru_cache(maxsize=4096)
def _const16(v: int) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.int16)


def effective_p(p: float) -> float:
    """The probability a Bernoulli(p) mask really has: p rounded to a multiple of 2**-16."""
    return (lane_threshold(p) + 32768) / 65536.0


def bernoulli(ws, out: torch.Tensor, start: int, key: Key, p: float) -> torch.Tensor:
    """out (float, 1-D) = 1.0 with probability effective_p(p), else 0.0, per element index."""
    t = lane_threshold(p)
    if t >= 32768:
        return out.fill_(1.0)
    if t <= -32768:
        return out.fill_(0.0)
    lanes = lanes16(ws, out.numel(), start, key)
    return torch.lt(lanes, lane_operand(t), out=out)


def bernoulli_allones(ws, out: torch.Tensor, start: int, key: Key, p: float) -> torch.Tensor:
    """out (signed int, 1-D) = -1 (all bits set) with probability effective_p(p), else 0."""
    t = lane_threshold(p)
    if t >= 32768 or t <= -32768:
        return out.fill_(-1 if t >= 32768 else 0)
    lanes = lanes16(ws, out.numel(), start, key)
    if out.dtype == torch.int32:
        out.copy_(lanes)
        out.sub_(t)
        return out.bitwise_right_shift_(31)
    wide = ws.buf("allones.wide", out.numel(), torch.int32)
    wide.copy_(lanes)
    wide.sub_(t)
    wide.bitwise_right_shift_(31)
    return out.copy_(wide)


def uniform(ws, out: torch.Tensor, start: int, key: Key, name: str = "uniform") -> torch.Tensor:
    """out (float, 1-D) = 24-bit uniforms in the open interval (0, 1), per element index."""
    n = out.numel()
    h = _hash_ws(ws, name, n, start, key)
    h.bitwise_right_shift_(8)
    h.bitwise_and_(0xFFFFFF)
    out.copy_(h)
    return out.mul_(2.0 ** -24).add_(2.0 ** -25)


def normal(ws, out: torch.Tensor, start: int, key: Key) -> torch.Tensor:
    """out (float, 1-D) = standard normal samples (Box-Muller), per element index."""
    u2 = ws.buf("normal.u2", out.numel(), out.dtype)
    uniform(ws, out, start, key.child("u1"))
    uniform(ws, u2, start, key.child("u2"))
    out.log_().mul_(-2.0).sqrt_()
    u2.mul_(2.0 * math.pi).cos_()
    return out.mul_(u2)
