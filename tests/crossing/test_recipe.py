"""One recipe, one state: crosses into two worlds share a blob; a repeat stores nothing; names are guarded."""

from __future__ import annotations

import hashlib

import pytest

from multiverse import errors
from multiverse.records import canonical_json
from tests.crossing.lab import frames, state, states_added, stored_now, stored_id


@pytest.fixture
def two(lab):
    for w in ("a", "b"):
        lab.world(w)
    lab.save("a", state(frames(1), texts=[(1, "rain")]))
    lab.save("b", state(frames(2), texts=[(2, "snow")]))
    return lab


def test_the_same_cross_into_two_worlds_is_one_state_and_two_records(two):
    lab = two
    blobs = stored_now(lab.app)
    first = lab.cross(["a", "b"], "crossover_uniform", {"p": 0.3}, seed=42, name="one")
    second = lab.cross(["a", "b"], "crossover_uniform", {"p": 0.3}, seed=42, name="two")
    assert first.created and second.created
    assert first.snapshot.state == second.snapshot.state  # one identical state sha256
    assert first.snapshot.id != second.snapshot.id and first.snapshot.world == "one" and second.snapshot.world == "two"
    assert states_added(lab.app, blobs) == {first.snapshot.state}  # stored once
    assert stored_id(lab.app, lab.app.blobs.read(first.snapshot.state)) == first.snapshot.state
    assert [s.id for s in lab.app.meta.snapshots_with_state(first.snapshot.state)] == sorted(
        [first.snapshot.id, second.snapshot.id], key=lambda i: (i != first.snapshot.id))
    assert first.recipe_sha256 == hashlib.sha256(canonical_json(first.snapshot.provenance["recipe"])).hexdigest()
    other_seed = lab.cross(["a", "b"], "crossover_uniform", {"p": 0.3}, seed=43, name="three")
    assert other_seed.snapshot.state != first.snapshot.state


def test_resending_the_recipe_returns_the_world_and_stores_nothing(two):
    lab = two
    made = lab.cross(["a", "b"], "slerp", seed=5, name="kid")
    blobs, worlds = sorted(stored_now(lab.app)), lab.footprint()
    again = lab.cross(["a", "b"], "slerp", seed=5, name="kid")
    assert not again.created and again.snapshot == made.snapshot and again.world == made.world
    assert again.stats == made.stats and again.recipe_sha256 == made.recipe_sha256
    assert sorted(stored_now(lab.app)) == blobs and lab.footprint() == worlds


def test_the_same_name_with_another_recipe_already_exists(two):
    lab = two
    lab.cross(["a", "b"], "slerp", seed=5, name="kid")
    before = (sorted(stored_now(lab.app)), lab.footprint())
    for kw in ({"seed": 6}, {"params": {"t": 0.9}}, {"player_policy": "max"}):
        with pytest.raises(errors.AlreadyExists) as e:
            lab.cross(["a", "b"], "slerp", name="kid", **kw)
        assert "'kid' exists" in e.value.message and "choose another name" in e.value.message
    with pytest.raises(errors.AlreadyExists) as e:
        lab.cross(["a", "b"], "slerp", name="a")  # a game server's world
    assert "made by a game server" in e.value.message
    assert (sorted(stored_now(lab.app)), lab.footprint()) == before
