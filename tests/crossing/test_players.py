"""Players when worlds cross: the union by uuid, stats merged three-way by policy, vectors by the pipeline."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk
from multiverse import errors
from multiverse.crossing.player_merge import merge_player, merge_stats, merge_values, union_players
from tests.crossing.lab import diverged, fork, frames, player, state, uid, vectors

BASE = {"Health": 20.0, "XpLevel": 5, "Pos": [0.0, 64.0, 0.0], "Dimension": "minecraft:overworld",
        "Inventory": [{"Slot": 0, "id": "minecraft:diamond_pickaxe", "count": 1}]}
FIRST = {**BASE, "Health": 12.0, "XpLevel": 7,
         "Inventory": [*BASE["Inventory"], {"Slot": 1, "id": "minecraft:torch", "count": 16}]}
SECOND = {**BASE, "XpLevel": 9, "Pos": [10.0, 70.0, -3.0],
          "Inventory": [*BASE["Inventory"], {"Slot": 2, "id": "minecraft:bread", "count": 3}]}


@pytest.mark.parametrize("policy, xp, slots", [
    ("prefer-first", 7, [0, 1]),
    ("prefer-second", 9, [0, 2]),
    ("max", 9, [0, 1]),
    ("union", 7, [0, 1, 2]),
])
def test_three_way_stats_merge_by_policy(policy, xp, slots):
    got = merge_stats(FIRST, SECOND, BASE, policy)
    assert got["Health"] == 12.0  # changed on the first side only
    assert got["Pos"] == [10.0, 70.0, -3.0]  # changed on the second side only
    assert got["Dimension"] == "minecraft:overworld"  # unchanged
    assert got["XpLevel"] == xp  # changed on both: the policy decides
    assert [item["Slot"] for item in got["Inventory"]] == slots


def test_stats_merge_edges():
    assert merge_values("Dimension", "a", "b", "c", "max") == "a"  # max on non-numbers: the first side
    assert merge_values("XpLevel", True, 3, 1, "max") is True  # true is not 1: a conflict, and max skips booleans
    assert merge_values("Health", 20, 12.0, 20.0, "max") == 12.0  # 20 is 20.0: changed on one side only
    assert merge_stats({"Health": 1.0}, {"Health": 2.0}, None, "prefer-second") == {"Health": 2.0}  # no base
    # a field deleted on one side and untouched on the other is deleted; added on one side is kept
    assert merge_stats({"a": 1}, {"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}, "prefer-first") == {"a": 1}
    assert merge_stats({"a": 1, "n": 5}, {"a": 1}, {"a": 1}, "prefer-first") == {"a": 1, "n": 5}
    first = {"Inventory": [{"Slot": 3, "id": "x", "count": 1}]}
    second = {"Inventory": [{"Slot": 3, "id": "y", "count": 2}, {"Slot": 4, "id": "z", "count": 1}]}
    union = merge_stats(first, second, {}, "union")["Inventory"]
    assert union == [{"Slot": 3, "id": "x", "count": 1}, {"Slot": 4, "id": "z", "count": 1}]  # the first wins a slot
    assert union_players([[{"uuid": "u1"}, {"uuid": "u2"}], [{"uuid": "u2"}, {"uuid": "u3"}]]) == [
        ("u1", [0]), ("u2", [0, 1]), ("u3", [1])]
    rec = merge_player([{"uuid": "u", "name": "old", "stats": {}}, {"uuid": "u", "name": "new", "stats": {}}],
                       {"uuid": "u", "name": "old", "stats": {}}, "prefer-first")
    assert rec["name"] == "new"  # renamed on one side


@pytest.fixture
def shared(lab):
    """a and b fork from one base; player 1 is in all three, player 2 only in a, player 3 only in b."""
    for w in ("a", "b"):
        lab.world(w)
    x = frames(1)
    v = vectors(1, 1)
    base = lab.save("a", state(x, [player(1, **BASE)], v))
    va, vb = vectors(2, 2), vectors(3, 2)
    a = lab.save("a", state(diverged(x, 2), [player(1, **FIRST), player(2)], va), base)
    b = fork(lab.app, "b", state(diverged(x, 3), [player(3), player(1, **SECOND)], vb), base)
    return lab, base, a, b


@pytest.mark.parametrize("policy, xp, slots", [("prefer-first", 7, [0, 1]), ("prefer-second", 9, [0, 2]),
                                               ("max", 9, [0, 1]), ("union", 7, [0, 1, 2])])
def test_crossed_players_are_the_union_with_merged_stats(shared, policy, xp, slots):
    lab, _, a, b = shared
    snap = lab.cross(["a", "b"], "slerp", {"t": 0.25}, player_policy=policy, name=f"p-{policy}").snapshot
    tensors, info = lab.load(snap)
    assert [p["uuid"] for p in info.players] == [uid(1), uid(2), uid(3)] and snap.player_count == 3
    one = info.players[0]["stats"]
    assert (one["Health"], one["Pos"], one["XpLevel"]) == (12.0, [10.0, 70.0, -3.0], xp)
    assert [item["Slot"] for item in one["Inventory"]] == slots
    va, vb = lab.load(a)[0]["players"], lab.load(b)[0]["players"]
    # the shared player's vector is merged by the pipeline; the others keep their own
    want = mk.apply("slerp", [va[0:1], vb[1:2]], params={"t": 0.25})
    assert torch.equal(tensors["players"][0:1], want)
    assert torch.equal(tensors["players"][1], va[1]) and torch.equal(tensors["players"][2], vb[0])
    assert "1 shared players merged by the pipeline" in snap.provenance["stats"]["players"]


def test_vectors_fall_back_to_the_policy_when_the_pipeline_cannot_apply(shared):
    lab, _, _a, b = shared
    # k-point cut points along time do not fit a one-row player matrix: the policy picks a parent's vector
    snap = lab.cross(["a", "b"], "crossover_kpoint", {"points": [3]}, player_policy="prefer-second").snapshot
    tensors, _ = lab.load(snap)
    assert torch.equal(tensors["players"][0], lab.load(b)[0]["players"][1])
    assert "picked by prefer-second" in snap.provenance["stats"]["players"]


def test_too_many_players_in_the_union_is_refused(lab):
    for w in ("a", "b"):
        lab.world(w)
    lab.save("a", state(frames(1), [player(i) for i in range(1, 6)], vectors(1, 5)))
    lab.save("b", state(frames(2), [player(i) for i in range(6, 11)], vectors(2, 5)))
    before = lab.footprint()
    with pytest.raises(errors.FailedPrecondition) as e:
        lab.cross(["a", "b"], "slerp")
    assert "would not be valid in latent space 'demo'" in e.value.message and "8" in e.value.message
    assert lab.footprint() == before
