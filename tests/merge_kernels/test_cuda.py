"""CUDA: tensors on the GPU are merged on the GPU, with the same masks and (to rounding) the same values as on
the CPU. Runs where torch sees a GPU; elsewhere it is skipped (a GPU cannot be started by the tests)."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")

# operator -> (params, parents it takes or None for 3); every registered operator appears here (checked below)
CASES = {
    "linear": ({}, None),
    "slerp": ({"t": 0.3}, 2),
    "multislerp": ({}, None),
    "task_arithmetic": ({}, None),
    "ties": ({"density": 0.2}, None),
    "dare_linear": ({"density": 0.5}, None),
    "dare_ties": ({"density": 0.5}, None),
    "breadcrumbs": ({"density": 0.8, "gamma": 0.01}, None),
    "crossover_kpoint": ({"k": 3}, None),
    "crossover_uniform": ({"p": 0.4}, 2),
    "crossover_mask": ({"region": [[-1, 0.5, 1.0]]}, 2),
    "blend": ({"alpha": 0.5}, 2),
    "sbx": ({"eta": 15.0}, 2),
    "mutate_gaussian": ({"sigma": 0.01, "p": 0.5}, 1),
}
SELECTION = set(mk.selection_operators())


def _inputs(device: str, dtype=torch.float32, T: int = 24):
    g = torch.Generator().manual_seed(7)
    base = torch.randn(T, 4, 8, 8, generator=g)
    parents = [base + 0.5 * torch.randn(T, 4, 8, 8, generator=g) for _ in range(3)]
    return [p.to(device, dtype) for p in parents], base.to(device, dtype)


def _run(op: str, device: str, *, dtype=torch.float32, chunk_frames=None, seed=5):
    params, takes = CASES[op]
    parents, base = _inputs(device, dtype)
    parents = parents[:takes] if takes else parents
    spec = mk.get_operator(op)
    return mk.apply(op, parents, base=base if spec.needs_base else None, params=params, seed=seed,
                    chunk_frames=chunk_frames)


def test_every_operator_is_covered():
    assert set(CASES) == set(mk.operator_names())


@pytest.mark.parametrize("op", sorted(CASES))
def test_cuda_inputs_stay_on_cuda_and_agree_with_the_cpu(op):
    gpu = _run(op, "cuda")
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float32
    cpu = _run(op, "cpu")
    if op in SELECTION:
        assert torch.equal(gpu.cpu(), cpu), f"{op}: the GPU picked other elements than the CPU"
    else:
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", sorted(CASES))
def test_cuda_output_is_bitwise_deterministic_and_independent_of_chunk_size(op):
    a = _run(op, "cuda", chunk_frames=24)
    b = _run(op, "cuda", chunk_frames=5)
    c = _run(op, "cuda", chunk_frames=24)
    assert torch.equal(a, c)
    if op in SELECTION:
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_inputs_return_their_dtype(dtype):
    for op in ("linear", "slerp", "ties", "crossover_kpoint"):
        out = _run(op, "cuda", dtype=dtype)
        assert out.dtype == dtype and out.device.type == "cuda"
        assert torch.isfinite(out.float()).all()


def test_integer_tokens_on_cuda_take_selection_only():
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randint(0, 8192, (16, 336), generator=g).to("cuda", torch.int32) for _ in range(2))
    out = mk.apply("crossover_uniform", [a, b], params={"p": 0.5}, seed=1)
    assert out.device.type == "cuda" and out.dtype == torch.int32
    assert bool(((out == a) | (out == b)).all())
    with pytest.raises(mk.ParameterError):
        mk.apply("linear", [a, b], seed=1)
