"""Every refusal names what was wrong and leaves the store as it was; a cancelled cross leaves nothing."""

from __future__ import annotations

import pytest

from multiverse import errors
from multiverse.crossing import Crossing, CrossLimits, CrossSpec, pipeline_from
from tests.crossing.conftest import ADMIN, SERVER
from tests.crossing.lab import frames, state, states_added, stored_now


@pytest.fixture
def two(lab):
    for w in ("a", "b"):
        lab.world(w)
    lab.save("a", state(frames(1)))
    lab.save("b", state(frames(2)))
    return lab


def unchanged(lab):
    return sorted(stored_now(lab.app)), lab.footprint()


def test_only_an_admin_crosses(two):
    before = unchanged(two)
    with pytest.raises(errors.PermissionDenied) as e:
        two.cross(["a", "b"], "slerp", who=SERVER)
    assert "only an admin key" in e.value.message and "'alpha'" in e.value.message
    assert unchanged(two) == before


@pytest.mark.parametrize("op, params, field, words", [
    ("ties", {"density": 2}, "pipeline.steps[0].density", "(0, 1]"),
    ("slerp", {"t": "half"}, "pipeline.steps[0].t", "half"),
    ("ties", {"bogus": 1}, "pipeline.steps[0].bogus", "check its spelling"),
    ("warp", {}, "pipeline.steps[0].op", "slerp"),
    ("", {}, "op", "name an operator"),
    ("crossover_kpoint", {"points": [99]}, "pipeline.steps[0].points", "99"),
])
def test_bad_operator_parameters_are_named(two, op, params, field, words):
    before = unchanged(two)
    with pytest.raises(errors.InvalidArgument) as e:
        two.cross(["a", "b"], op, params)
    assert e.value.field == field and words in e.value.message, e.value.message
    assert unchanged(two) == before


@pytest.mark.parametrize("kw, field", [
    ({"player_policy": "coin-flip"}, "player_policy"),
    ({"seed": -1}, "seed"),
    ({"name": "Bad Name"}, "name"),
    ({"description": "x" * 2000}, "description"),
])
def test_bad_request_fields_are_named(two, kw, field):
    with pytest.raises(errors.InvalidArgument) as e:
        two.cross(["a", "b"], "slerp", **kw)
    assert e.value.field == field


def test_both_a_pipeline_and_an_operator_is_refused():
    with pytest.raises(errors.InvalidArgument) as e:
        pipeline_from("slerp", {}, {"steps": [{"op": "linear"}]})
    assert e.value.field == "op"


def test_parent_count_and_size_limits(two):
    lab = two
    with pytest.raises(errors.InvalidArgument) as e:
        lab.cross(["a"], "slerp")
    assert e.value.field == "parents" and "2 to 8" in e.value.message
    with pytest.raises(errors.InvalidArgument) as e:
        lab.cross(["a", "b"] * 5, "linear")
    assert e.value.field == "parents" and "2 to 8" in e.value.message
    small = Crossing.over(lab.app.store, CrossLimits(max_parents=3, max_input_bytes=1000))
    with pytest.raises(errors.InvalidArgument) as e:
        small.cross(ADMIN, CrossSpec(("a", "b"), pipeline_from("slerp", {}, None), name="big"))
    assert e.value.field == "parents" and "at most 1000 bytes" in e.value.message
    with pytest.raises(errors.NotFound):
        lab.cross(["a", "nowhere"], "slerp")


def test_overflow_to_inf_is_refused(two):
    before = unchanged(two)
    with pytest.raises(errors.InvalidArgument) as e:
        two.cross(["a", "b"], "task_arithmetic", {"lambda": 1e6}, base="a")
    assert e.value.field == "pipeline" and "Inf/NaN" in e.value.message and "lower lambda" in e.value.message
    assert unchanged(two) == before


@pytest.mark.parametrize("stop_at", ["load", "merge", "players", "encode", "store"])
def test_a_cancelled_cross_leaves_no_world_and_no_snapshot(two, stop_at):
    lab = two
    blobs, before = stored_now(lab.app), lab.footprint()
    seen: list[str] = []
    spec = CrossSpec(("a", "b"), pipeline_from("slerp", {}, None), name="gone")
    with pytest.raises(errors.Cancelled):
        lab.app.crossing.cross(ADMIN, spec, progress=lambda stage, f: seen.append(stage),
                               cancelled=lambda: stop_at in seen)
    assert lab.footprint() == before
    with pytest.raises(errors.NotFound):
        lab.app.meta.get_world("gone")
    added = states_added(lab.app, blobs)
    assert len(added) == (1 if stop_at == "store" else 0)  # at most the unreferenced state (blob or manifest)
    for digest in added:
        assert lab.app.meta.snapshots_with_state(digest) == []
    # and the same cross afterwards succeeds, reusing that state
    made = lab.app.crossing.cross(ADMIN, spec)
    assert made.created and states_added(lab.app, blobs) == {made.snapshot.state}
