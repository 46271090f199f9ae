"""Pipelines as data: JSON round trip, validation before work, same bytes as the steps run one by one."""

from __future__ import annotations

import json
import re

import pytest
import torch

import merge_kernels as mk

g = torch.Generator().manual_seed(0)
A, B, C, BASE = (torch.randn(6, 4, 5, generator=g) for _ in range(4))


def test_json_round_trip_and_canonical_form():
    p = mk.Pipeline.of(("crossover_uniform", {"p": 0.3, "unit": "cell"}), ("mutate_gaussian", {"sigma": 0.05}))
    text = p.to_json()
    assert mk.Pipeline.from_json(text) == p
    assert mk.Pipeline.from_json(text).to_json() == text
    assert json.loads(text)["version"] == 1
    full = p.resolve(2)
    assert full.steps[0].params["channel_axis"] == 1 and full.steps[1].params["p"] == 1.0
    assert mk.Pipeline.from_json(full.to_json()).to_json() == full.to_json()


def test_run_equals_the_steps_applied_one_by_one():
    p = mk.Pipeline.of(("crossover_uniform", {"p": 0.3}), ("mutate_gaussian", {"sigma": 0.05, "p": 0.5}))
    stats = {}
    out = p.run([A, B], seed=42, stats=stats, chunk_frames=2)
    step0 = mk.apply("crossover_uniform", [A, B], params={"p": 0.3}, seed=42, op_index=0)
    step1 = mk.apply("mutate_gaussian", [step0], params={"sigma": 0.05, "p": 0.5}, seed=42, op_index=1)
    assert torch.equal(out, step1)
    assert len(stats["steps"]) == 2 and "share" in stats["steps"][0] and "mutated" in stats["steps"][1]


def test_step_references_and_base():
    p = mk.Pipeline((
        mk.Step("slerp", {"t": 0.25}, inputs=("p0", "p1")),
        mk.Step("ties", {"density": 0.5}, inputs=("s0", "p2")),
        mk.Step("crossover_mask", {"region": [[-1, 0.5, 1.0]]}, inputs=("prev", "s0")),
    ))
    out = p.run([A, B, C], base=BASE, seed=1)
    s0 = mk.apply("slerp", [A, B], params={"t": 0.25})
    s1 = mk.apply("ties", [s0, C], base=BASE, params={"density": 0.5}, op_index=1)
    s2 = mk.apply("crossover_mask", [s1, s0], params={"region": [[-1, 0.5, 1.0]]})
    assert torch.equal(out, s2)


def test_tensor_parameters_travel_by_name():
    m = torch.zeros(4, 5, dtype=torch.bool)
    m[:, 2:] = True
    p = mk.Pipeline.of(("crossover_mask", {"mask": "@east"}))
    out = p.run([A, B], tensors={"east": m})
    assert torch.equal(out, torch.where(m, B, A))
    with pytest.raises(mk.PipelineError, match="@mask"):
        mk.Pipeline.of(("crossover_mask", {"mask": m})).to_json()


@pytest.mark.parametrize("pipeline,parents,base,match", [
    ({"steps": []}, 2, False, "one or more steps"),
    ({"steps": [{"op": "nope"}]}, 2, False, r"steps\[0\]\.op"),
    ({"steps": [{"op": "linear"}, {"op": "ties"}]}, 2, False, r"steps\[1\]\.base"),
    ({"steps": [{"op": "linear", "inputs": ["p3"]}]}, 2, False, r"steps\[0\]\.inputs"),
    ({"steps": [{"op": "linear", "inputs": ["prev"]}]}, 2, False, "first step"),
    ({"steps": [{"op": "slerp", "params": {"t": 2}}]}, 2, False, r"steps\[0\]\.t\b"),
    ({"steps": [{"op": "slerp"}]}, 3, False, r"steps\[0\]\.parents"),
    ({"steps": [{"op": "linear", "extra": 1}]}, 2, False, r"steps\[0\]"),
    ({"steps": [{"op": "linear"}], "version": 2}, 2, False, "version"),
])
def test_validation_before_any_work(pipeline, parents, base, match):
    xs = [A, B, C][:parents]
    with pytest.raises(mk.ParameterError) as e:
        mk.Pipeline.from_dict(pipeline).run(xs, base=BASE if base else None)
    assert e.value.param.startswith("steps") or e.value.param in ("pipeline", "version")
    assert re.search(match, f"{e.value.param} {e.value}")


def test_a_late_bad_step_fails_before_the_first_runs(monkeypatch):
    calls = []
    import merge_kernels.pipeline as pl

    monkeypatch.setattr(pl, "apply", lambda *a, **k: calls.append(a))
    p = mk.Pipeline.of("linear", ("mutate_gaussian", {"sigma": -1.0}))
    with pytest.raises(mk.ParameterError, match="sigma"):
        p.run([A, B])
    assert calls == []


def test_bad_json_text():
    with pytest.raises(mk.PipelineError, match="fix the JSON"):
        mk.Pipeline.from_json("{steps: ")


def test_listing_describes_every_operator():
    ops = mk.list_operators()
    names = {o["name"] for o in ops}
    assert names == {"linear", "slerp", "multislerp", "task_arithmetic", "ties", "dare_linear", "dare_ties",
                     "breadcrumbs", "crossover_kpoint", "crossover_uniform", "crossover_mask", "blend", "sbx",
                     "mutate_gaussian"}
    json.dumps(ops)  # JSON-able as is
    ties = next(o for o in ops if o["name"] == "ties")
    density = next(p for p in ties["params"] if p["name"] == "density")
    assert density["min"] == 0.0 and density["max"] == 1.0 and density["min_exclusive"] and density["doc"]
    assert ties["base"] == "required" and not ties["selection"]
    assert mk.selection_operators() == ["crossover_kpoint", "crossover_mask", "crossover_uniform"]
