"""The fused CPU loops (merge_kernels/fused.py) against the eager torch kernels they replace.

Selection operators must give the same bytes and statistics on both paths (the same counter-based
hash); interpolations agree within float32 rounding. Both paths are run here on the CPU, so the
torch kernels (the CUDA path) stay tested on machines without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import merge_kernels as mk
from merge_kernels import fused, rng
from merge_kernels._core import Workspace


def test_numba_is_there_so_the_fused_loops_run():
    # a missing numba would silently fall back to the slow path: the product depends on it
    assert fused.numba is not None
    assert fused.active(torch.zeros(3))
    with fused.torch_only():
        assert not fused.active(torch.zeros(3))
    assert not fused.active(torch.zeros(4, 4).t())  # not contiguous


@pytest.mark.parametrize("start,n", [(0, 1), (0, 9000), (7, 4095), (12345, 4097), ((1 << 33) - 6, 20)])
def test_lanes_are_the_bits_of_rng_lanes16(start, n):
    key = rng.Key(11, (2, "uniform", 0))
    ref = rng.lanes16(Workspace(torch.device("cpu")), n, start, key).to(torch.int32) + 32768
    out = np.empty(n, np.int32)
    hb, lanes = fused.lane_scratch()
    for e0, e1, k1, k2 in fused.key_segments(key, start, start + n):
        if e0 & 1:  # fill_lanes wants an even start: fill from e0 - 1 and drop the first
            tmp = np.empty(e1 - e0 + 1, np.int32)
            fused.fill_lanes(tmp, e0 - 1, k1, k2, hb, lanes)
            out[e0 - start:e1 - start] = tmp[1:]
        else:
            fused.fill_lanes(out[e0 - start:e1 - start], e0, k1, k2, hb, lanes)
    assert torch.equal(torch.from_numpy(out), ref)


def _parents(k, shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return [torch.randn(shape, generator=g).to(dtype) for _ in range(k)]
    if dtype == torch.bool:
        return [torch.rand(shape, generator=g) > 0.5 for _ in range(k)]
    return [torch.randint(-1000, 1000, shape, generator=g).to(dtype) for _ in range(k)]


def _both(op, parents, params, seed=5, **kw):
    s_fused, s_torch = {}, {}
    a = mk.apply(op, parents, params=params, seed=seed, stats=s_fused, **kw)
    with fused.torch_only():
        b = mk.apply(op, parents, params=params, seed=seed, stats=s_torch, **kw)
    return a, b, s_fused, s_torch


UNIFORM_CASES = [
    (2, (7, 3, 5, 4), {"unit": "element"}),
    (2, (7, 3, 5, 4), {"unit": "cell", "channel_axis": 1, "p": 0.3}),
    (3, (5, 4, 6, 2), {"unit": "cell", "channel_axis": 2}),
    (4, (9, 16, 8, 8), {"unit": "cell", "channel_axis": -1}),
    (4, (9, 16, 8, 8), {"unit": "element", "weights": [1, 2, 3, 4]}),
    (5, (6, 3, 11), {"unit": "element"}),
    (2, (4001,), {"unit": "element"}),
    (2, (3, 5000), {"unit": "element", "p": 0.999}),
    (3, (3, 2, 2), {"unit": "element", "weights": [0, 1, 0]}),
]


@pytest.mark.parametrize("k,shape,params", UNIFORM_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int16, torch.int64,
                                   torch.uint8])
def test_uniform_crossover_gives_the_same_bytes_and_shares_on_both_paths(k, shape, params, dtype):
    parents = _parents(k, shape, dtype)
    a, b, sa, sb = _both("crossover_uniform", parents, params)
    assert torch.equal(a.view(torch.uint8) if a.dtype != torch.bool else a,
                       b.view(torch.uint8) if b.dtype != torch.bool else b)
    assert sa["share"] == pytest.approx(sb["share"], abs=1e-12)
    assert torch.equal(sa["frame_share"], sb["frame_share"])


def test_uniform_crossover_keeps_nan_payloads_and_negative_zero():
    a = torch.tensor([float("nan"), -0.0, 1.0, -0.0] * 1000).view(40, 100)
    a.view(torch.int32)[0, 0] = 0x7FC01234  # a NaN with a payload
    b = torch.full_like(a, 2.0)
    out = mk.apply("crossover_uniform", [a, b], params={"p": 0.0}, seed=3)
    assert torch.equal(out.view(torch.int32), a.view(torch.int32))


def test_uniform_crossover_does_not_depend_on_the_seed_stream_of_other_ops():
    a, b = _parents(2, (8, 64), torch.float32)
    one = mk.apply("crossover_uniform", [a, b], seed=1)
    two = mk.apply("crossover_uniform", [a, b], seed=2)
    assert not torch.equal(one, two)
    assert torch.equal(one, mk.apply("crossover_uniform", [a, b], seed=1))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-6), (torch.float64, 1e-12), (torch.float16, 1e-3),
                                       (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("shape", [(6, 3, 8, 8), (5, 1000), (3, 1), (4,)])
def test_slerp_agrees_with_the_torch_kernel(dtype, tol, shape):
    a, b = _parents(2, shape, dtype, seed=2)
    b[0] = a[0] * 2  # a parallel frame: the lerp fallback
    x, y, sx, sy = _both("slerp", [a, b], {"t": 0.3})
    assert torch.allclose(x.double(), y.double(), rtol=tol, atol=tol)
    assert sx["lerp_frames"] == sy["lerp_frames"] >= 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_fused_slerp_does_not_depend_on_the_chunk_size(dtype):
    a, b = _parents(2, (33, 4, 16), dtype, seed=4)
    ref = mk.apply("slerp", [a, b], params={"t": 0.7})
    for chunk in (1, 5, 32):
        assert torch.equal(mk.apply("slerp", [a, b], params={"t": 0.7}, chunk_frames=chunk), ref)


def test_fused_slerp_propagates_nan_and_inf_like_torch():
    a, b = _parents(2, (4, 32), torch.float32, seed=6)
    a[1, 3] = float("nan")
    b[2, 5] = float("inf")
    x, y, _, _ = _both("slerp", [a, b], {"t": 0.5})
    assert torch.equal(x.isnan(), y.isnan())
    assert torch.equal(x.isinf(), y.isinf())


REGIONS = [
    ((7, 16, 32, 32), [[-1, 0.5, 1.0]]),  # the east half: 64-byte half rows
    ((7, 16, 32, 32), [[1, 0.25, 0.5], [-1, 0.0, 0.5]]),
    ((9, 3, 5), [[0, 0.2, 0.7], [2, 0.4, 1.0]]),
    ((10,), [[0, 0.3, 0.6]]),
    ((4, 6, 6), [[1, 0.5, 1.0]]),
    ((5, 3, 7), [[2, 0.0, 1.0]]),
    ((5, 3, 7), [[1, 0.5, 0.6]]),  # rounds to an empty box (rows 2..2 of 3)
]


@pytest.mark.parametrize("shape,region", REGIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64, torch.uint8])
def test_region_crossover_gives_the_same_bytes_and_shares_on_both_paths(shape, region, dtype):
    parents = _parents(2, shape, dtype, seed=8)
    a, b, sa, sb = _both("crossover_mask", parents, {"region": region})
    assert torch.equal(a.view(torch.uint8) if dtype != torch.uint8 else a,
                       b.view(torch.uint8) if dtype != torch.uint8 else b)
    assert sa["share"] == sb["share"]


def test_region_crossover_on_a_misaligned_view_copies_byte_words():
    # a storage offset of one element: the copy falls back to narrower words, the bytes stay right
    base = _parents(2, (1 + 6 * 8 * 8,), torch.float32, seed=9)
    a, b = (x[1:].view(6, 8, 8) for x in base)
    x, y, _, _ = _both("crossover_mask", [a, b], {"region": [[-1, 0.5, 1.0]]})
    assert torch.equal(x.view(torch.int32), y.view(torch.int32))
