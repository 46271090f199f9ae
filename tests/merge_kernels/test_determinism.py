"""Counter-based randomness and global thresholds: bit-exact, chunk-free, statistically sound."""

from __future__ import annotations

import random

import pytest
import torch

import merge_kernels as mk
from merge_kernels import rng, select
from merge_kernels._core import Workspace


def test_hash_matches_the_python_reference_including_the_high_word():
    key = rng.Key(123, (0, "x", 0))
    starts = [0, 5, 2 ** 31 - 3, 2 ** 32 - 4, 3 * 2 ** 32 + 7]
    ws = Workspace(torch.device("cpu"))
    for s in starts:
        out = torch.empty(9, dtype=torch.int32)
        rng.fill_hash(out, s, key, ws.iota(9), torch.empty(9, dtype=torch.int32))
        expect = [rng.hash_reference(key, s + i) for i in range(9)]
        assert [v & 0xFFFFFFFF for v in out.tolist()] == expect


def test_bernoulli_rate_and_independence():
    ws = Workspace(torch.device("cpu"))
    n = 1 << 18
    for p in (0.01, 0.3, 0.5, 0.9):
        m = rng.bernoulli(ws, torch.empty(n), 0, rng.Key(1, ("t", p)), p)
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(float(m.mean()) - p) < 5 * sd
    a = rng.bernoulli(ws, torch.empty(n), 0, rng.Key(1, ("a",)), 0.5).clone()
    b = rng.bernoulli(ws, torch.empty(n), 0, rng.Key(2, ("a",)), 0.5)
    assert abs(float((a == b).double().mean()) - 0.5) < 5 * (0.25 / n) ** 0.5  # seeds decorrelated
    lag = float(((a[1:] - 0.5) * (a[:-1] - 0.5)).mean()) / 0.25  # neighbours decorrelated
    assert abs(lag) < 5 / n ** 0.5


def test_uniform_is_open_and_flat():
    ws = Workspace(torch.device("cpu"))
    u = rng.uniform(ws, torch.empty(1 << 16, dtype=torch.float64), 0, rng.Key(0, ()))
    assert 0.0 < float(u.min()) and float(u.max()) < 1.0
    hist = torch.histc(u.float(), bins=16, min=0.0, max=1.0)
    assert float((hist - 4096).abs().max()) < 5 * 4096 ** 0.5


def test_masks_depend_on_position_not_on_task_order():
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(4, 8, generator=g) for _ in range(3)]
    base = torch.zeros(4, 8)
    s1, s2 = {}, {}
    mk.apply("dare_linear", xs, base=base, params={"density": 0.5, "weight": [1.0, 0.0, 1.0]}, seed=3, stats=s1)
    mk.apply("dare_linear", xs, base=base, params={"density": 0.5}, seed=3, stats=s2)
    assert s1["density"][2] == s2["density"][2]  # task 2's mask ignores whether task 1 ran


def test_exact_radix_select_matches_kthvalue_on_large_tensors():
    n = select.SAMPLE_SIZE + 12345
    g = torch.Generator().manual_seed(1)
    a = torch.randn(n, generator=g).abs()
    a[:1000] = a[5000]  # a run of ties
    ws = Workspace(torch.device("cpu"))
    ranks = [1, 100, n // 3, n - 1]
    cuts = select.exact_cuts(lambda e0, e1: a[e0:e1], n, ranks, 1 << 16, ws)
    sorted_desc = torch.sort(a, descending=True).values
    for r, c in zip(ranks, cuts):
        assert c.value == float(sorted_desc[r - 1])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_ties_density_is_exact_with_many_ties(dtype):
    """Half-precision parents have few distinct values: ties at the threshold are broken by position."""
    g = torch.Generator().manual_seed(2)
    xs = [torch.randn(40, 64, generator=g).to(dtype) for _ in range(2)]
    base = torch.zeros(40, 64, dtype=dtype)
    xs[0][:10] = 0.5
    for chunk in (3, None):
        st = {}
        out = mk.apply("ties", xs, base=base, params={"density": [0.05, 0.4], "threshold": "exact"}, stats=st,
                       chunk_frames=chunk)
        assert st["density"] == [round(0.05 * 2560) / 2560, round(0.4 * 2560) / 2560]
        assert out.dtype == dtype


def test_sampled_threshold_is_within_the_stated_tolerance():
    n = select.SAMPLE_SIZE * 3 // 2
    g = torch.Generator().manual_seed(3)
    xs = [torch.randn(n // 1024, 1024, generator=g)]
    base = torch.zeros_like(xs[0])
    for d in (0.02, 0.7):
        st = {}
        mk.apply("ties", xs, base=base, params={"density": d}, stats=st, seed=random.Random(d).randrange(99))
        assert st["threshold_mode"] == "sample"
        assert abs(st["density"][0] - d) < 0.0025


def test_sampled_threshold_handles_a_tensor_of_mostly_zero_deltas():
    n = select.SAMPLE_SIZE * 3 // 2
    x = torch.zeros(n // 512, 512)
    x[::2] = torch.randn(n // 1024, 512, generator=torch.Generator().manual_seed(4))
    st = {}
    mk.apply("ties", [x], base=torch.zeros_like(x), params={"density": 0.25}, stats=st)
    assert abs(st["density"][0] - 0.25) < 0.0025


def test_dare_realized_density_tracks_p():
    x = torch.randn(64, 1024, generator=torch.Generator().manual_seed(5))
    st = {}
    mk.apply("dare_linear", [x], base=torch.zeros_like(x), params={"density": 0.1}, stats=st, seed=1)
    assert abs(st["density"][0] - 0.1) < 5 * (0.09 / x.numel()) ** 0.5
