"""The fused task-vector loops (merge_kernels/fused_taskvec.py) against the eager torch path of
taskvec.gta (``fused.torch_only()``): the same bytes, the same statistics, for every sparsify mode,
tie mode of a magnitude cut, DARE rescale, dtype and parent count; and no dependence on the chunk
size."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk
from merge_kernels import fused, fused_taskvec, select

pytestmark = pytest.mark.skipif(fused.numba is None, reason="numba missing: no fused loops")

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def _inputs(k, shape, dtype, seed=0, quantize=None, zeros=0.0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(shape, generator=g, dtype=torch.float64)
    xs = []
    for _ in range(k):
        d = 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        if quantize:
            d = torch.round(d * quantize) / quantize  # many exact ties of |tau|
        if zeros:
            d[torch.rand(shape, generator=g) < zeros] = 0.0  # entries the task leaves untouched
        xs.append((base + d).to(dtype))
    base = base.to(dtype)
    if quantize:  # ties survive the subtraction only on a representable grid: base 0 there
        base = torch.zeros_like(base)
        xs = [(x.double() - x.double().mean()).to(dtype) for x in xs]
        xs = [(torch.round(x.double() * quantize) / quantize).to(dtype) for x in xs]
    return xs, base


def _both(op, xs, base, params, seed=7, chunk_frames=None):
    s_fused, s_torch = {}, {}
    a = mk.apply(op, xs, base=base, params=params, seed=seed, stats=s_fused, chunk_frames=chunk_frames)
    with fused.torch_only():
        b = mk.apply(op, xs, base=base, params=params, seed=seed, stats=s_torch, chunk_frames=chunk_frames)
    return a, b, s_fused, s_torch


def _same_bytes(a, b):
    iv = _INT[a.element_size()]
    assert torch.equal(a.view(iv), b.view(iv)), f"{int((a.view(iv) != b.view(iv)).sum())} elements differ"


CASES = [
    ("ties", {"density": 0.3}),
    ("ties", {"density": 0.3, "threshold": "sample"}),
    ("ties", {"density": 0.2, "normalize": False, "lambda": 0.7}),
    ("ties", {"density": 1.0}),
    ("dare_linear", {"density": 0.5}),
    ("dare_linear", {"density": 0.3, "rescale": "l1", "normalize": True}),
    ("dare_linear", {"density": 0.9, "rescale": "none", "lambda": 1.3}),
    ("dare_ties", {"density": 0.5}),
    ("dare_ties", {"density": 0.4, "rescale": "l1", "normalize": True}),
    ("dare_ties", {"density": 0.7, "rescale": "none"}),
    ("dare_ties", {"density": 1.0}),
    ("task_arithmetic", {}),
    ("task_arithmetic", {"normalize": True, "lambda": 0.5}),
    ("breadcrumbs", {"density": 0.8, "gamma": 0.05}),
    ("breadcrumbs", {"density": 0.6, "gamma": 0.1, "consensus": "sum", "normalize": True, "threshold": "sample"}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("op,params", CASES)
def test_fused_gta_matches_the_torch_path(op, params, k, dtype):
    xs, base = _inputs(k, (5, 3, 37), dtype, seed=k)
    w = [0.6, 1.0, 1.7][:k]
    for weights in (w, [0.0] + w[1:]):
        p = dict(params, weight=weights)
        a, b, sa, sb = _both(op, xs, base, p)
        _same_bytes(a, b)
        assert sa == sb


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("threshold", ["exact", "sample"])
@pytest.mark.parametrize("op,density", [("ties", 0.3), ("ties", 0.75), ("breadcrumbs", 0.5)])
def test_fused_gta_tie_modes_match(op, density, threshold, dtype):
    # quantized task vectors and untouched entries: the cuts fall on runs of equal |tau|, so the
    # "prefix" (exact) and "prob" (sample) tie modes are exercised
    xs, base = _inputs(3, (6, 7, 41), dtype, seed=3, quantize=8, zeros=0.3)
    p = {"density": density, "threshold": threshold, "weight": [1.0, 0.5, 2.0]}
    if op == "breadcrumbs":
        p["gamma"] = 0.05
    a, b, sa, sb = _both(op, xs, base, p)
    _same_bytes(a, b)
    assert sa == sb


def test_the_tie_cases_are_reached(monkeypatch):
    seen = set()
    keep_top = select.keep_top

    def spy(tau, cut, e0, out, ws):
        seen.add(cut.ties)
        return keep_top(tau, cut, e0, out, ws)

    monkeypatch.setattr(select, "keep_top", spy)
    for threshold in ("exact", "sample"):
        xs, base = _inputs(3, (6, 7, 41), torch.float32, seed=3, quantize=8, zeros=0.3)
        with fused.torch_only():
            mk.apply("ties", xs, base=base, params={"density": 0.3, "threshold": threshold}, seed=1)
    assert {"prefix", "prob"} <= seen


@pytest.mark.parametrize("op,params", [("ties", {"density": 0.3}), ("dare_ties", {"density": 0.5}),
                                       ("dare_linear", {"density": 0.5}), ("breadcrumbs", {"density": 0.7})])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_gta_does_not_depend_on_the_chunk_size(op, params, dtype):
    xs, base = _inputs(3, (9, 5, 333), dtype, seed=2)
    ref = mk.apply(op, xs, base=base, params=params, seed=4)
    for cf in (1, 2, 7):
        _same_bytes(mk.apply(op, xs, base=base, params=params, seed=4, chunk_frames=cf), ref)
    _same_bytes(mk.apply(op, xs, base=base, params=params, seed=4), ref)  # same seed, same bytes


def test_fused_gta_spans_several_blocks_and_conversion_chunks(monkeypatch):
    monkeypatch.setattr(fused_taskvec, "CHUNK", 1 << 12)
    xs, base = _inputs(2, (3, 5000), torch.float16, seed=5)
    for op, params in [("ties", {"density": 0.2, "threshold": "exact"}), ("dare_ties", {"density": 0.5}),
                       ("task_arithmetic", {})]:
        a, b, sa, sb = _both(op, xs, base, params)
        _same_bytes(a, b)
        assert sa == sb
    xs, base = _inputs(4, (3, 20001), torch.float32, seed=6)
    for op, params in [("ties", {"density": 0.2}), ("dare_linear", {"density": 0.3}),
                       ("breadcrumbs", {"density": 0.5, "gamma": 0.1})]:
        a, b, sa, sb = _both(op, xs, base, params)
        _same_bytes(a, b)
        assert sa == sb


def test_fused_gta_zero_base_entries_and_all_zero_weights():
    xs, base = _inputs(2, (4, 300), torch.float32, seed=8, zeros=0.5)
    base[:, ::3] = 0.0  # the sign of a zero result shows
    xs[0][:, ::5] = -0.0
    for op, params in [("dare_ties", {"density": 0.5, "normalize": True}), ("ties", {"density": 0.6}),
                       ("task_arithmetic", {"weight": [0.0, 0.0]}), ("ties", {"weight": [0.0, 0.0]})]:
        a, b, sa, sb = _both(op, xs, base, params)
        _same_bytes(a, b)
        assert sa == sb
