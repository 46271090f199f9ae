"""Bad inputs fail before any work, with errors that name the parameter, the value and the allowed range."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk

A = torch.randn(4, 3, 2)
B = torch.randn(4, 3, 2)
BASE = torch.randn(4, 3, 2)


@pytest.mark.parametrize("density", [1.5, 0.0, -0.1])
def test_density_outside_0_1(density):
    with pytest.raises(mk.ParameterError) as e:
        mk.apply("ties", [A, B], base=BASE, params={"density": density})
    assert e.value.param == "density" and e.value.allowed == "(0, 1]"
    assert f"density={density}" in str(e.value) and "(0, 1]" in str(e.value) and "such as 0.2" in str(e.value)


def test_per_parent_density_names_the_index():
    with pytest.raises(mk.ParameterError, match=r"density\[1\]=2.0 is outside \(0, 1\]"):
        mk.apply("dare_linear", [A, B], base=BASE, params={"density": [0.5, 2.0]})
    with pytest.raises(mk.ParameterError, match="one number or a list of 2"):
        mk.apply("dare_linear", [A, B], base=BASE, params={"density": [0.5, 0.5, 0.5]})


def test_mismatched_shapes():
    with pytest.raises(mk.ShapeError) as e:
        mk.apply("linear", [A, torch.randn(5, 3, 2)])
    assert e.value.param == "parents[1]" and "(4, 3, 2)" in str(e.value) and "align" in str(e.value)
    with pytest.raises(mk.ShapeError, match="base"):
        mk.apply("ties", [A, B], base=torch.randn(4, 3))


def test_missing_base_is_a_clear_error():
    for op in ("task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs"):
        with pytest.raises(mk.MissingBaseError) as e:
            mk.apply(op, [A, B])
        assert e.value.param == "base" and "merge base" in str(e.value)


def test_base_given_to_an_operator_without_one():
    with pytest.raises(mk.ParameterError, match="does not use a base"):
        mk.apply("slerp", [A, B], base=BASE)


def test_integer_tokens_accept_only_selection_operators():
    ta = torch.randint(0, 8192, (4, 336))
    tb = torch.randint(0, 8192, (4, 336))
    with pytest.raises(mk.DtypeError) as e:
        mk.apply("linear", [ta, tb])
    msg = str(e.value)
    assert "crossover_kpoint" in msg and "crossover_mask" in msg and "crossover_uniform" in msg
    out = mk.apply("crossover_uniform", [ta, tb], seed=1)
    assert out.dtype == torch.int64 and bool(((out == ta) | (out == tb)).all())


def test_unknown_operator_and_parameter():
    with pytest.raises(mk.UnknownOperatorError, match="slerp"):
        mk.apply("slurp", [A, B])
    with pytest.raises(mk.ParameterError, match="densty") as e:
        mk.apply("ties", [A, B], base=BASE, params={"densty": 0.2})
    assert "density" in e.value.allowed


@pytest.mark.parametrize("op,params,param", [
    ("slerp", {"t": 1.5}, "t"),
    ("slerp", {"t": "half"}, "t"),
    ("linear", {"normalize": 1}, "normalize"),
    ("linear", {"weight": [1.0, -1.0]}, "weight"),
    ("ties", {"threshold": "fast"}, "threshold"),
    ("ties", {"weight": [1.0, -1.0]}, "weight[1]"),
    ("crossover_kpoint", {"points": [3, 2]}, "points"),
    ("crossover_kpoint", {"points": [0]}, "points"),
    ("crossover_kpoint", {"k": 9}, "k"),
    ("crossover_uniform", {"p": 0.5, "weights": [1.0, 1.0]}, "p"),
    ("crossover_uniform", {"unit": "cell", "channel_axis": 5}, "channel_axis"),
    ("crossover_mask", {}, "mask"),
    ("crossover_mask", {"region": [[7, 0.0, 0.5]]}, "region[0].axis"),
    ("crossover_mask", {"region": [[-1, 0.6, 0.5]]}, "region[0]"),
    ("crossover_mask", {"mask": torch.ones(5, dtype=torch.bool)}, "mask"),
    ("crossover_mask", {"mask": "@missing"}, "mask"),
    ("crossover_mask", {"mask": torch.full((3, 2), 2)}, "mask"),
    ("crossover_mask", {"region": [[-1, 0.0, 0.5]], "inside": 2}, "inside"),
    ("blend", {"alpha": -1.0}, "alpha"),
    ("breadcrumbs", {"gamma": 1.0}, "gamma"),
    ("breadcrumbs", {"weight": [1.0, -0.5], "consensus": "sum"}, "weight"),
])
def test_bad_parameters_name_the_parameter(op, params, param):
    base = BASE if mk.get_operator(op).needs_base else None
    with pytest.raises(mk.ParameterError) as e:
        mk.apply(op, [A, B], base=base, params=params)
    assert e.value.param == param
    assert str(e.value).startswith(param) or param in str(e.value)


def test_parent_count_seed_chunk_and_out_checks():
    with pytest.raises(mk.ParameterError, match="exactly 2 parents for slerp"):
        mk.apply("slerp", [A, B, A])
    with pytest.raises(mk.ParameterError, match="seed"):
        mk.apply("blend", [A, B], seed=-1)
    with pytest.raises(mk.ParameterError, match="chunk_frames"):
        mk.apply("linear", [A, B], chunk_frames=0)
    with pytest.raises(mk.ParameterError, match="overlaps parents"):
        mk.apply("linear", [A, B], out=A)
    with pytest.raises(mk.ParameterError, match="dtype"):
        mk.apply("linear", [A, B.double()])
    out = torch.empty_like(A)
    assert mk.apply("linear", [A, B], out=out) is out
    x = A.clone()
    assert mk.apply("mutate_gaussian", [x], out=x) is x  # in place is allowed for mutation


def test_error_tree():
    for cls in (mk.UnknownOperatorError, mk.ShapeError, mk.DtypeError, mk.MissingBaseError, mk.PipelineError):
        assert issubclass(cls, mk.ParameterError) and issubclass(cls, ValueError)
