"""Spaces, worlds and API keys: round trips, idempotent registration, clear errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from multiverse.errors import AlreadyExists, InvalidArgument, NotFound
from multiverse.records import ROLE_ADMIN, ROLE_SERVER, ApiKeyRecord
from tests.metadata.factory import SPACE, world


def test_space_round_trips_exactly(meta):
    stored = meta.put_space(SPACE)
    assert stored == SPACE
    got = meta.get_space(SPACE.name)
    assert got == SPACE
    assert isinstance(got.frame_shape, tuple) and isinstance(got.reference["mean"], list)
    assert meta.list_spaces() == [SPACE]


def test_put_space_is_idempotent_and_keeps_the_first_record(meta):
    meta.put_space(SPACE)
    again = meta.put_space(replace(SPACE, created_at=SPACE.created_at + 60))
    assert again == SPACE  # the stored one, with its original created_at
    assert meta.list_spaces() == [SPACE]


def test_put_space_with_other_settings_under_a_taken_name_is_refused(meta):
    meta.put_space(SPACE)
    with pytest.raises(AlreadyExists) as err:
        meta.put_space(replace(SPACE, frame_shape=(16, 18, 33)))
    assert "frame_shape" in err.value.message and "(16, 18, 32)" in err.value.message
    assert meta.get_space(SPACE.name) == SPACE


def test_spaces_are_listed_by_name(meta):
    for name in ("zeta", "alpha", "mid"):
        meta.put_space(replace(SPACE, name=name, reference={}))
    assert [s.name for s in meta.list_spaces()] == ["alpha", "mid", "zeta"]


def test_space_with_non_json_reference_is_invalid(meta):
    with pytest.raises(InvalidArgument) as err:
        meta.put_space(replace(SPACE, reference={"mean": float("nan")}))
    assert err.value.field == "space.reference"
    assert meta.list_spaces() == []


def test_unknown_space_is_not_found(meta):
    with pytest.raises(NotFound, match="nope"):
        meta.get_space("nope")


def test_world_round_trips(meta):
    meta.put_space(SPACE)
    w = world("w", created_at=1712345678.5, description="a plains seed")
    assert meta.create_world(w) == w
    assert meta.get_world("w") == w


def test_create_world_is_idempotent_ignoring_created_at(meta):
    meta.put_space(SPACE)
    first = meta.create_world(world("w", created_at=1.0))
    assert meta.create_world(world("w", created_at=2.0)) == first


def test_create_world_with_another_owner_is_refused(meta):
    meta.put_space(SPACE)
    meta.create_world(world("w", owner="server-1"))
    with pytest.raises(AlreadyExists, match="owner"):
        meta.create_world(world("w", owner="server-2"))
    assert meta.get_world("w").owner == "server-1"


def test_world_in_unknown_space_is_not_found(meta):
    with pytest.raises(NotFound, match="register it first"):
        meta.create_world(world("w", space="nope"))
    with pytest.raises(NotFound):
        meta.get_world("w")


def test_list_worlds_filters_and_pages_by_name(meta):
    meta.put_space(SPACE)
    meta.put_space(replace(SPACE, name="other"))
    names = [f"w{i:02d}" for i in range(7)]
    for i, name in enumerate(reversed(names)):
        meta.create_world(world(name, owner=f"server-{i % 2}", space="other" if i == 3 else SPACE.name))
    pages, after = [], ""
    while page := meta.list_worlds(after=after, limit=3):
        pages.append([w.name for w in page])
        after = page[-1].name
    assert pages == [names[0:3], names[3:6], names[6:]]
    assert [w.name for w in meta.list_worlds(space="other")] == ["w03"]
    assert [w.name for w in meta.list_worlds(owner="server-0")] == ["w00", "w02", "w04", "w06"]
    assert [w.name for w in meta.list_worlds(owner="server-0", space=SPACE.name, after="w02")] == [
        "w04",
        "w06",
    ]
    with pytest.raises(InvalidArgument, match="limit"):
        meta.list_worlds(limit=0)


def test_keys_round_trip_and_count_by_role(meta):
    admin = ApiKeyRecord(
        id="k-admin", principal="admin", role=ROLE_ADMIN, secret_hash="a" * 64, created_at=5.5
    )
    server = ApiKeyRecord(id="k-srv", principal="server-1", role=ROLE_SERVER, secret_hash="b" * 64)
    revoked = ApiKeyRecord(id="k-old", principal="admin", role=ROLE_ADMIN, secret_hash="c" * 64, revoked=True)
    assert meta.count_keys(ROLE_ADMIN) == 0
    for key in (admin, server, revoked):
        meta.add_key(key)
    assert meta.get_key("k-admin") == admin
    assert meta.get_key("k-old") == revoked and meta.get_key("k-old").revoked is True
    assert meta.count_keys(ROLE_ADMIN) == 1  # revoked keys do not count
    assert meta.count_keys(ROLE_SERVER) == 1
    meta.add_key(admin)  # the same key again is a no-op
    with pytest.raises(AlreadyExists, match="k-admin"):
        meta.add_key(replace(admin, secret_hash="d" * 64))
    assert meta.get_key("k-admin") == admin


def test_key_errors(meta):
    with pytest.raises(NotFound, match="k-none"):
        meta.get_key("k-none")
    with pytest.raises(InvalidArgument) as err:
        meta.add_key(ApiKeyRecord(id="k", principal="p", role="root", secret_hash="e" * 64))
    assert err.value.field == "key.role"
