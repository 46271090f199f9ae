"""Property tests (Hypothesis) of the invariants every operator keeps."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import merge_kernels as mk

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.tuples(st.integers(1, 9), st.integers(1, 4), st.integers(1, 6))
float_dtypes = st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16])
any_dtypes = st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int16,
                              torch.uint8, torch.bool])
seeds = st.integers(0, 2 ** 64 - 1)
chunks = st.one_of(st.none(), st.integers(1, 10))


def _tensors(k, shape, dtype, seed):
    g = torch.Generator().manual_seed(seed % (2 ** 63))
    out = []
    for _ in range(k):
        if dtype.is_floating_point:
            out.append(torch.randn(shape, generator=g).to(dtype))
        elif dtype == torch.bool:
            out.append(torch.rand(shape, generator=g) > 0.5)
        else:
            out.append(torch.randint(0, 100, shape, generator=g).to(dtype))
    return out


@SETTINGS
@given(shape=shapes, dtype=float_dtypes, seed=seeds)
def test_lerp_and_slerp_return_the_parents_at_the_ends(shape, dtype, seed):
    a, b = _tensors(2, shape, dtype, seed)
    assert torch.equal(mk.apply("linear", [a, b], params={"weight": [1.0, 0.0]}), a)
    assert torch.equal(mk.apply("linear", [a, b], params={"weight": [0.0, 1.0]}), b)
    assert torch.equal(mk.apply("slerp", [a, b], params={"t": 0.0}), a)
    assert torch.equal(mk.apply("slerp", [a, b], params={"t": 1.0}), b)


@SETTINGS
@given(shape=shapes, t=st.floats(0.0, 1.0), seed=seeds, scale=st.floats(0.01, 100.0))
def test_slerp_of_equal_norm_frames_keeps_the_norm(shape, t, seed, scale):
    a, b = _tensors(2, shape, torch.float64, seed)
    a = a / a.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (a.dim() - 1))) * scale
    b = b / b.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (b.dim() - 1))) * scale
    out = mk.apply("slerp", [a, b], params={"t": t})
    norms = out.flatten(1).norm(dim=1)
    cos = (a.flatten(1) * b.flatten(1)).sum(1) / scale ** 2
    slerped = cos.abs() <= 0.9995  # frames on the slerp branch keep the norm exactly (up to rounding)
    torch.testing.assert_close(norms[slerped], torch.full_like(norms[slerped], scale), rtol=1e-9, atol=0)


@SETTINGS
@given(shape=shapes, density=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=3), seed=seeds,
       dtype=st.sampled_from([torch.float32, torch.float64]), mode=st.sampled_from(["exact", "auto"]))
def test_ties_keeps_the_requested_density_per_task(shape, density, seed, dtype, mode):
    k = len(density)
    *xs, base = _tensors(k + 1, shape, dtype, seed)
    n = base.numel()
    stats = {}
    mk.apply("ties", xs, base=base, params={"density": density, "threshold": mode}, stats=stats)
    assert stats["density"] == [round(d * n) / n for d in density]


@SETTINGS
@given(shape=shapes, dtype=any_dtypes, seed=seeds, k=st.integers(2, 3),
       op=st.sampled_from(["crossover_uniform", "crossover_kpoint", "crossover_mask"]),
       unit=st.sampled_from(["element", "cell", "frame"]), chunk=chunks)
def test_every_crossover_element_comes_from_a_parent_at_that_position(shape, dtype, seed, k, op, unit, chunk):
    xs = _tensors(k, shape, dtype, seed)
    if op == "crossover_uniform":
        params = {"unit": unit}
    elif op == "crossover_kpoint":
        params = {"k": min(2, shape[0] - 1)} if shape[0] > 1 else {"points": []}
    else:
        params = {"region": [[-1, 0.25, 0.75]], "inside": k - 1}
    stats = {}
    out = mk.apply(op, xs, params=params, seed=seed, chunk_frames=chunk, stats=stats)
    iv = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}.get(dtype)
    bits = (lambda t: t.view(iv)) if iv is not None else (lambda t: t)
    hit = torch.zeros(shape, dtype=torch.bool)
    for x in xs:
        hit |= bits(out) == bits(x)
    assert bool(hit.all())
    assert abs(sum(stats["share"]) - 1.0) < 1e-9


RANDOM_OPS = {
    "crossover_uniform": {"p": 0.4, "unit": "cell"},
    "dare_linear": {"density": 0.3},
    "dare_ties": {"density": 0.6},
    "blend": {"alpha": 0.3},
    "sbx": {"eta": 3.0},
    "mutate_gaussian": {"sigma": 0.1, "p": 0.5},
    "ties": {"density": 0.3, "threshold": "sample"},
}


@SETTINGS
@given(op=st.sampled_from(sorted(RANDOM_OPS)), shape=shapes, seed=seeds, c1=st.integers(1, 9),
       dtype=float_dtypes)
def test_output_is_independent_of_chunk_size(op, shape, seed, c1, dtype):
    spec = mk.get_operator(op)
    k = 1 if spec.max_parents == 1 else 2
    *xs, base = _tensors(k + 1, shape, dtype, seed)
    base = base if spec.needs_base else None
    ref = mk.apply(op, xs, base=base, params=RANDOM_OPS[op], seed=seed)
    out = mk.apply(op, xs, base=base, params=RANDOM_OPS[op], seed=seed, chunk_frames=c1)
    assert torch.equal(ref.view(-1).view(torch.uint8) if ref.dtype != torch.bool else ref,
                       out.view(-1).view(torch.uint8) if out.dtype != torch.bool else out)


@SETTINGS
@given(op=st.sampled_from(sorted(RANDOM_OPS)), seed=seeds)
def test_same_seed_same_bytes_different_seed_different_masks(op, seed):
    spec = mk.get_operator(op)
    k = 1 if spec.max_parents == 1 else 2
    *xs, base = _tensors(k + 1, (6, 4, 5), torch.float32, 7)
    base = base if spec.needs_base else None
    params = dict(RANDOM_OPS[op])
    if op == "ties":
        return  # deterministic once the threshold is found; covered by the chunk test
    a = mk.apply(op, xs, base=base, params=params, seed=seed)
    b = mk.apply(op, xs, base=base, params=params, seed=seed)
    c = mk.apply(op, xs, base=base, params=params, seed=(seed + 1) % 2 ** 64)
    assert torch.equal(a.view(torch.int32), b.view(torch.int32))
    assert not torch.equal(a, c)


@SETTINGS
@given(shape=shapes, seed=seeds, p=st.floats(0.05, 0.95))
def test_uniform_crossover_share_matches_stats_and_p(shape, seed, p):
    a = torch.zeros(shape)
    b = torch.ones(shape)
    stats = {}
    out = mk.apply("crossover_uniform", [a, b], params={"p": p}, seed=seed, stats=stats)
    assert stats["share"][1] == float(out.double().mean())
    frame_share = stats["frame_share"]
    torch.testing.assert_close(frame_share[:, 1].double(), out.flatten(1).double().mean(1), rtol=0, atol=1e-6)
