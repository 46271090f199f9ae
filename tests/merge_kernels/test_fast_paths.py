"""The fast paths give the results of the plain formulations they replace, bit for bit:
radix top-value vs kthvalue, pooled scratch vs fresh buffers, scaled-iota hash vs the reference,
wrapping-integer selection vs torch.where, integer-op copysign vs torch.copysign."""

from __future__ import annotations

import math

import pytest
import torch

import merge_kernels as mk
from merge_kernels import _core, rng, select, taskvec
from merge_kernels._core import Workspace


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_value_is_kthvalue_with_its_counts(dtype):
    g = torch.Generator().manual_seed(11)
    a = torch.randn(50_000, generator=g, dtype=dtype).abs()
    a[:3000] = a[7]  # a run of ties
    a[3000:3100] = 0.0
    a[3100:3105] = math.inf
    n = a.numel()
    for r in (1, 4, 5, 6, 100, 3000, 3101, n // 2, n - 100, n):
        v, greater, equal = select.top_value(a, r, Workspace(torch.device("cpu")))
        want = torch.kthvalue(a, n - r + 1).values
        assert v.item() == want.item() or (math.isinf(v.item()) and math.isinf(want.item()))
        assert greater == int((a > want).sum()) and equal == int((a == want).sum())


def test_sample_positions_follow_the_float64_formula():
    for n in (select.SAMPLE_SIZE * 3 + 17, (1 << 24) + 5, 1 << 26):
        ws = Workspace(torch.device("cpu"))
        key = rng.Key(4, (0, "sample"))
        size = 1 << 12
        pos = select.sample_positions(n, size, key, "cpu", ws).clone()
        u = torch.tensor([((rng.hash_reference(key, j) >> 8) + 0.5) / 2 ** 24 for j in range(size)],
                         dtype=torch.float64)
        want = ((torch.arange(size, dtype=torch.float64) + u) * (n / size)).floor().long().clamp(0, n - 1)
        assert torch.equal(pos, want)


def test_scaled_iota_hash_matches_the_reference_across_the_high_word():
    key = rng.Key(9, (1, "x"))
    ws = Workspace(torch.device("cpu"))
    for start in (0, 77, 2 ** 32 - 5):
        n = 11
        h = rng._hash_ws(ws, "h", n, start, key)
        assert [v & 0xFFFFFFFF for v in h.tolist()] == [rng.hash_reference(key, start + i) for i in range(n)]


def test_pooled_scratch_is_reused_but_never_shared_by_live_workspaces(monkeypatch):
    monkeypatch.setattr(_core, "POOL_BYTES", 1 << 20)
    _core._pool().clear()
    a = Workspace(torch.device("cpu"))
    x = a.buf("x", 1000, torch.float32)
    b = Workspace(torch.device("cpu"))  # alive at the same time: gets its own memory
    y = b.buf("x", 1000, torch.float32)
    assert x.data_ptr() != y.data_ptr()
    ptr = x.data_ptr()
    del a, x
    c = Workspace(torch.device("cpu"))
    assert c.buf("z", 500, torch.int32).data_ptr() == ptr  # the released buffer comes back
    del b, y, c
    big = Workspace(torch.device("cpu"))
    big.buf("huge", 1 << 20, torch.float32)  # 4 MiB: more than the pool may keep
    del big
    assert sum(t.numel() for t in _core._pool()) <= 1 << 20


@pytest.mark.parametrize("dtype", [torch.int64, torch.int8, torch.uint8, torch.float16, torch.float32])
def test_wrapping_selection_copies_extreme_values_exactly(dtype):
    if dtype.is_floating_point:
        a = torch.tensor([math.nan, -0.0, math.inf, 1.5] * 256, dtype=dtype)
        b = torch.tensor([-math.inf, 0.0, -math.nan, -2.0] * 256, dtype=dtype)
    else:
        info = torch.iinfo(dtype)
        a = torch.tensor([info.max, info.min, 0, 1] * 256, dtype=dtype)
        b = torch.tensor([info.min, info.max, -1 if info.min < 0 else 2, info.max] * 256, dtype=dtype)
    xs = [a.view(256, 4), b.view(256, 4)]
    idt = _core.int_view_dtype(dtype)
    for params in ({"p": 0.5}, {"p": 0.5, "unit": "frame"}):
        out = mk.apply("crossover_uniform", xs, params=params, seed=3)
        o, ai, bi = (t.reshape(-1).view(idt) for t in (out, xs[0], xs[1]))
        took_a = o == ai
        assert bool((took_a | (o == bi)).all())
        assert 0 < int(took_a.sum()) < o.numel()
    m = torch.rand(256, 4, generator=torch.Generator().manual_seed(1)) < 0.5
    out = mk.apply("crossover_mask", xs, params={"mask": "@m"}, tensors={"m": m})
    want = torch.where(m, xs[1].view(idt), xs[0].view(idt))
    assert torch.equal(out.view(idt), want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_consensus_sign_by_integer_ops_is_copysign(dtype):
    g = torch.Generator().manual_seed(5)
    n = 4096
    vals = torch.tensor([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, math.inf, -math.inf], dtype=dtype)
    S = vals[torch.randint(0, 8, (n,), generator=g)] * torch.rand(n, generator=g, dtype=dtype)
    P = torch.rand(n, generator=g, dtype=dtype) * 3
    P[::7] = 0.0
    A = torch.randint(-2, 3, (n,), generator=g).to(dtype)
    B = A.abs() + torch.randint(0, 2, (n,), generator=g).to(dtype)
    bc = torch.randn(n, generator=g, dtype=dtype)
    for normalize in (False, True):
        Sr, Pr, Ar, Br = S.clone(), P.clone(), A.clone(), B.clone()
        sign = torch.copysign(torch.ones_like(Sr), Sr)
        mixed = torch.copysign(Pr, Sr) + Sr.clamp_max(0.0)
        lam = 0.7
        if normalize:
            mixed = (mixed / (Br + Ar * sign)).nan_to_num(nan=0.0)
            lam = 1.4
        want = torch.add(bc, mixed, alpha=lam)
        dst = torch.empty_like(bc)
        taskvec._finish_consensus((S.clone(), P.clone(), A.clone(), B.clone()), dst, bc, 0.7, normalize,
                                  Workspace(torch.device("cpu")))
        assert torch.equal(dst.view(-1).view(torch.uint8), want.view(-1).view(torch.uint8))


def test_concurrent_calls_share_the_pool_without_sharing_buffers():
    from concurrent.futures import ThreadPoolExecutor

    g = torch.Generator().manual_seed(8)
    base = torch.randn(24, 4, 16, 16, generator=g)
    xs = [base + torch.randn(24, 4, 16, 16, generator=g) for _ in range(3)]
    jobs = [("ties", {"density": 0.3}), ("dare_ties", {"density": 0.6}), ("crossover_uniform", {}),
            ("slerp", {"t": 0.4})] * 3

    def run(job):
        op, params = job
        parents = xs[:2] if op == "slerp" else xs
        b = base if mk.get_operator(op).needs_base else None
        return mk.apply(op, parents, base=b, params=params, seed=2, chunk_frames=5)

    serial = [run(j) for j in jobs]
    with ThreadPoolExecutor(4) as ex:
        parallel = list(ex.map(run, jobs))
    for s, p in zip(serial, parallel, strict=True):
        assert torch.equal(s, p)
