"""Each operator against a plain reference implementation of its formula (tests/merge_kernels/reference.py)."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk
from tests.merge_kernels import reference as ref

SHAPE = (7, 3, 4, 5)  # [T, C, H, W]: 60 elements per frame


def _parents(k, seed=0, shape=SHAPE, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype) for _ in range(k)]


def _close(a, b, tol=1e-9):
    torch.testing.assert_close(a.double(), b.double(), rtol=tol, atol=tol)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("normalize", [True, False])
def test_linear(k, normalize):
    xs = _parents(k)
    w = [0.2, 0.7, 1.3][:k]
    out = mk.apply("linear", xs, params={"weight": w, "normalize": normalize}, chunk_frames=2)
    _close(out, ref.linear(xs, w, normalize))


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 1.0])
def test_slerp(t):
    a, b = _parents(2)
    b[2] = 2.0 * a[2]  # a parallel frame takes the lerp branch
    st = {}
    out = mk.apply("slerp", [a, b], params={"t": t}, chunk_frames=3, stats=st)
    _close(out, ref.slerp(a, b, t))
    assert st["lerp_frames"] == 1


@pytest.mark.parametrize("with_base", [False, True])
def test_multislerp(with_base):
    xs = _parents(3)
    base = _parents(1, seed=5)[0] * 0.1 if with_base else None
    w = [1.0, 2.0, 0.5]
    out = mk.apply("multislerp", xs, base=base, params={"weight": w}, chunk_frames=2)
    _close(out, ref.multislerp(xs, w, base), tol=1e-7)


def test_task_arithmetic():
    *xs, base = _parents(3)
    out = mk.apply("task_arithmetic", xs, base=base, params={"weight": [0.5, -0.25], "lambda": 0.8})
    _close(out, ref.merge_deltas(base, [x.double() - base for x in xs], [0.5, -0.25], 0.8))


@pytest.mark.parametrize("normalize", [True, False])
def test_ties(normalize):
    *xs, base = _parents(4)
    w, d = [1.0, 0.5, 2.0], [0.3, 0.5, 0.2]
    out = mk.apply("ties", xs, base=base, params={"weight": w, "density": d, "normalize": normalize,
                                                  "lambda": 0.9}, chunk_frames=2)
    _close(out, ref.ties(xs, base, w, d, 0.9, normalize))


@pytest.mark.parametrize("op,consensus", [("dare_linear", False), ("dare_ties", True)])
@pytest.mark.parametrize("rescale", ["inverse", "l1", "none"])
def test_dare(op, consensus, rescale):
    *xs, base = _parents(3, shape=(5, 2, 3, 4))
    w, d = [0.7, 1.1], [0.4, 0.75]
    out = mk.apply(op, xs, base=base, params={"weight": w, "density": d, "rescale": rescale}, seed=11,
                   chunk_frames=2)
    _close(out, ref.dare(xs, base, w, d, seed=11, consensus=consensus, rescale=rescale))


@pytest.mark.parametrize("consensus", ["none", "sum"])
def test_breadcrumbs(consensus):
    *xs, base = _parents(3)
    w = [1.0, 0.6]
    out = mk.apply("breadcrumbs", xs, base=base, params={"weight": w, "density": 0.6, "gamma": 0.1,
                                                         "consensus": consensus})
    _close(out, ref.breadcrumbs(xs, base, w, (0.6, 0.6), 0.1, consensus=consensus == "sum"))


def test_breadcrumbs_density_plus_gamma_above_one():
    *xs, base = _parents(2)
    out = mk.apply("breadcrumbs", xs, base=base, params={"density": 0.95, "gamma": 0.2})
    _close(out, ref.breadcrumbs(xs, base, [1.0], (0.95,), 0.2))


@pytest.mark.parametrize("k", [2, 3])
def test_kpoint_explicit(k):
    xs = _parents(k)
    st = {}
    out = mk.apply("crossover_kpoint", xs, params={"points": [2, 3, 6]}, stats=st)
    assert torch.equal(out, ref.kpoint(xs, [2, 3, 6]))
    assert st["segments"][0] == [0, 2, 0]


def test_kpoint_random_points_are_recorded():
    xs = _parents(2)
    st = {}
    out = mk.apply("crossover_kpoint", xs, params={"k": 3}, seed=4, stats=st)
    assert len(st["points"]) == 3 and st["points"] == sorted(set(st["points"]))
    assert torch.equal(out, ref.kpoint(xs, st["points"]))


@pytest.mark.parametrize("unit,unit_shape", [("element", SHAPE[1:]), ("cell", (1, 4, 5)), ("frame", (1, 1, 1))])
@pytest.mark.parametrize("k", [2, 3])
def test_uniform(unit, unit_shape, k):
    xs = _parents(k, dtype=torch.float32)
    params = {"unit": unit, "p": 0.3} if k == 2 else {"unit": unit, "weights": [1.0, 2.0, 3.0]}
    probs = [0.7, 0.3] if k == 2 else [1 / 6, 2 / 6, 3 / 6]
    out = mk.apply("crossover_uniform", xs, params=params, seed=3, chunk_frames=2)
    assert torch.equal(out, ref.uniform_crossover(xs, probs, 3, unit_shape))


def test_uniform_channel_last_cells():
    xs = _parents(2, shape=(4, 5, 6, 3))
    out = mk.apply("crossover_uniform", xs, params={"unit": "cell", "channel_axis": -1}, seed=8)
    assert torch.equal(out, ref.uniform_crossover(xs, [0.5, 0.5], 8, (5, 6, 1)))


def test_mask_region_east_half():
    a, b = _parents(2)
    out = mk.apply("crossover_mask", [a, b], params={"region": [[-1, 0.6, 1.0]], "inside": 0, "outside": 1})
    expect = b.clone()
    expect[..., 3:] = a[..., 3:]
    assert torch.equal(out, expect)


def test_mask_region_box_on_two_axes():
    a, b = _parents(2)
    st = {}
    out = mk.apply("crossover_mask", [a, b], params={"region": [[0, 0.0, 0.5], [2, 0.25, 0.75]]}, stats=st)
    expect = a.clone()
    expect[0:4, :, 1:3] = b[0:4, :, 1:3]
    assert torch.equal(out, expect)
    assert st["share"][1] == pytest.approx(4 * 2 / (7 * 4))


def test_mask_tensor_bool_and_index():
    xs = _parents(3)
    g = torch.Generator().manual_seed(1)
    m = torch.rand((4, 5), generator=g) > 0.5  # a [H, W] region, broadcast over T and C
    out = mk.apply("crossover_mask", xs[:2], params={"mask": m})
    assert torch.equal(out, torch.where(m, xs[1], xs[0]))
    idx = torch.randint(0, 3, SHAPE, generator=g)
    st = {}
    out = mk.apply("crossover_mask", xs, params={"mask": "@sel"}, tensors={"sel": idx}, stats=st, chunk_frames=3)
    expect = torch.where(idx == 1, xs[1], torch.where(idx == 2, xs[2], xs[0]))
    assert torch.equal(out, expect)
    assert st["share"] == pytest.approx([float((idx == j).double().mean()) for j in range(3)])


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_blend(alpha):
    a, b = _parents(2, shape=(3, 2, 5))
    out = mk.apply("blend", [a, b], params={"alpha": alpha}, seed=2)
    _close(out, ref.blend(a, b, alpha, 2))


@pytest.mark.parametrize("child", [0, 1])
def test_sbx(child):
    a, b = _parents(2, shape=(3, 2, 5))
    out = mk.apply("sbx", [a, b], params={"eta": 2.0, "child": child}, seed=9)
    _close(out, ref.sbx(a, b, 2.0, child, 9), tol=1e-7)


@pytest.mark.parametrize("p", [1.0, 0.25])
def test_mutate(p):
    (x,) = _parents(1, shape=(3, 2, 5))
    st = {}
    out = mk.apply("mutate_gaussian", [x], params={"sigma": 0.5, "p": p}, seed=6, stats=st)
    _close(out, ref.mutate(x, 0.5, p, 6), tol=1e-6)
    if p < 1:
        assert 0 < st["mutated"] < 1


def test_align_policies():
    a = torch.arange(5.0).view(5, 1)
    b = torch.arange(3.0).view(3, 1) * 10
    last = mk.align([a, b], "last_n")
    assert last[0].flatten().tolist() == [2.0, 3.0, 4.0] and last[1].shape[0] == 3
    assert mk.align([a, b], "truncate", length=2)[0].flatten().tolist() == [0.0, 1.0]
    ra, rb = mk.align([a, b], "resample")
    assert ra.flatten().tolist() == a.flatten().tolist()
    assert rb.flatten().tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]
    tokens = torch.tensor([[1], [2], [3]], dtype=torch.int64)
    # source positions 0, 0.5, 1, 1.5, 2 rounded half to even: the nearest frame
    assert mk.resample(tokens, 5).flatten().tolist() == [1, 1, 2, 3, 3]
