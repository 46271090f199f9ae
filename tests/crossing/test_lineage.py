"""Merge bases from the lineage: forks that diverge, a world crossed with its own past, unrelated worlds."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk
from multiverse import errors
from multiverse.crossing import CODE_VERSION
from tests.crossing.lab import OTHER, diverged, fork, frames, state


def three_worlds(lab):
    """root -> base (world a); a: base -> a1 -> a2; b: fork of base -> b1. Returns (root, base, a2, b1)."""
    for w in ("a", "b"):
        lab.world(w)
    root = lab.save("a", state(frames(1)))
    x = frames(2)
    base = lab.save("a", state(x), root)
    a1 = lab.save("a", state(diverged(x, 3)), base)
    a2 = lab.save("a", state(diverged(x, 4)), a1)
    b1 = fork(lab.app, "b", state(diverged(x, 5)), base)
    return root, base, a2, b1


def test_ties_merges_against_the_lowest_common_ancestor(lab):
    root, base, a2, b1 = three_worlds(lab)
    assert lab.app.meta.lowest_common_ancestors(a2.id, b1.id) == [base.id]
    crossed = lab.cross(["a", "b@main"], "ties", {"density": 0.5}, seed=3)
    snap = crossed.snapshot
    assert crossed.created and snap.parents == (a2.id, b1.id) and snap.generation == max(a2.generation, b1.generation) + 1
    assert snap.provenance["base"] == base.id != root.id
    got = lab.load(snap)[0]["frames"]
    xa, xb, xbase = (lab.load(s)[0]["frames"] for s in (a2, b1, base))
    want = mk.apply("ties", [xa, xb], base=xbase, params={"density": 0.5}, seed=3)
    assert torch.equal(got, want)
    # another base gives another child: the base found is the one used
    other = lab.cross(["a", "b"], "ties", {"density": 0.5}, seed=3, base=root.id, name="child2")
    assert other.snapshot.provenance["base"] == root.id and other.snapshot.state != snap.state
    # the child's lineage reaches both forks and the base
    log = [s.id for s in lab.app.meta.log(snap.id)[0]]
    assert {a2.id, b1.id, base.id, root.id} <= set(log)


def test_provenance_records_the_whole_recipe(lab):
    _, base, a2, b1 = three_worlds(lab)
    snap = lab.cross([a2.id, b1.id[:12]], "ties", {"density": 0.4}, seed=11).snapshot
    p = snap.provenance
    assert p["kind"] == "cross" and p["by"] == "admin" and p["parents"] == [a2.id, b1.id] and p["base"] == base.id
    recipe = p["recipe"]
    assert recipe["parent_states"] == [a2.state, b1.state] and recipe["base_state"] == base.state
    assert recipe["seed"] == 11 and recipe["code_version"] == CODE_VERSION
    step = recipe["pipeline"]["steps"][0]
    assert step["op"] == "ties" and step["params"]["density"] == [0.4, 0.4] and "lambda" in step["params"]  # defaults written out
    assert mk.Pipeline.from_dict(recipe["pipeline"]).to_dict() == recipe["pipeline"]
    world = lab.app.meta.get_world("child")
    assert world.origin == {"recipe_sha256": p["recipe_sha256"], "snapshot": snap.id}
    assert lab.app.meta.heads("child") == {"main": snap.id}


def test_a_world_crossed_with_its_own_past_state(lab):
    _, base, a2, _ = three_worlds(lab)
    crossed = lab.cross(["a", base.id], "slerp", {"t": 0.5}, seed=1)
    assert crossed.snapshot.parents == (a2.id, base.id)
    assert crossed.snapshot.provenance["base"] == base.id  # the past state is the merge base of itself and the head
    # three-way: the past state is the base, so its own task vector is zero and ties keeps the head's changes
    tied = lab.cross(["a", base.id], "ties", {"density": 1.0}, name="own-ties").snapshot
    got = lab.load(tied)[0]["frames"]
    xa, xbase = lab.load(a2)[0]["frames"], lab.load(base)[0]["frames"]
    assert torch.equal(got, mk.apply("ties", [xa, xbase], base=xbase, params={"density": 1.0}))


def test_no_common_ancestor_fails_for_three_way_operators_only(lab):
    for w in ("p", "q"):
        lab.world(w)
    p = lab.save("p", state(frames(1)))
    q = lab.save("q", state(frames(2)))
    before = lab.footprint()
    with pytest.raises(errors.FailedPrecondition) as e:
        lab.cross(["p", "q"], "ties")
    msg = e.value.message
    assert "share no ancestor" in msg and "explicit base" in msg and "two-way operator" in msg and "slerp" in msg
    assert lab.footprint() == before
    two_way = lab.cross(["p", "q"], "slerp", name="two-way").snapshot
    assert two_way.provenance["base"] is None and two_way.provenance["recipe"]["base_state"] is None
    explicit = lab.cross(["p", "q"], "task_arithmetic", base=p.id, name="explicit").snapshot
    assert explicit.provenance["base"] == p.id
    xp, xq = lab.load(p)[0]["frames"], lab.load(q)[0]["frames"]
    assert torch.equal(lab.load(explicit)[0]["frames"], mk.apply("task_arithmetic", [xp, xq], base=xp))
    assert q.id not in explicit.provenance["recipe"]["parent_states"]  # states, not ids, make the recipe


def test_parents_from_two_spaces_name_both(lab):
    lab.world("p")
    lab.world("o", space=OTHER.name)
    lab.save("p", state(frames(1)))
    lab.save("o", state(frames(2), space=OTHER))
    with pytest.raises(errors.FailedPrecondition) as e:
        lab.cross(["p", "o"], "slerp")
    assert "'demo'" in e.value.message and "'other'" in e.value.message and "one latent space" in e.value.message
    assert e.value.details["spaces"] == "demo,other"
    assert [w.name for w in lab.app.meta.list_worlds()] == ["o", "p"]


def test_an_explicit_base_from_another_space_is_refused(lab):
    for w in ("p", "q"):
        lab.world(w)
    lab.world("o", space=OTHER.name)
    lab.save("p", state(frames(1)))
    lab.save("q", state(frames(2)))
    lab.save("o", state(frames(3), space=OTHER))
    with pytest.raises(errors.FailedPrecondition) as e:
        lab.cross(["p", "q"], "ties", base="o")
    assert "'other'" in e.value.message and "'demo'" in e.value.message
