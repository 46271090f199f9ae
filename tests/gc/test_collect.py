"""The collector over each blob adapter: what it keeps (heads, tokens, a kept cross's inputs, records), what it
sweeps (chunks, packs, manifests nothing needs, after the grace window), and that a dry run changes nothing."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from multiverse import errors
from multiverse.chunks import keep
from multiverse.chunks.cut import cut
from multiverse.chunks.gc import check_grace
from multiverse.chunks.store import Piece
from multiverse.market import tables
from tests.gc.world import ADMIN, SERVER, window


def _pruned_game(env):
    """World "a": 8 saves; world "c" crossed from a's 2nd and 3rd; a token on a's 4th; all of a pruned."""
    saved = env.game("a", 8)
    child = env.cross("c", saved[1][0], saved[2][0])
    env.token(saved[3][0])
    time.sleep(0.01)
    pruned = env.house.prune(ADMIN, time.time())
    return saved, child, pruned


def test_prune_and_collect_keep_heads_tokens_and_cross_inputs(env):
    saved, child, pruned = _pruned_game(env)
    # kept: a's head (7), the token's (3), the cross's inputs (1, 2) and the child (c's head)
    assert (pruned.pruned, pruned.kept) == (4, 5)
    child_bytes = env.load(child.id)
    first_only = cut(saved[0][1])[0].addresses[1]  # frame 0 is held by the first save alone
    assert first_only in env.chunk_rows()

    done = env.house.collect(ADMIN, 0.0)
    assert done.swept["chunks"].count >= 4 and done.swept["manifests"].count == 4
    assert first_only not in env.chunk_rows()
    for k in (1, 2, 3, 7):
        assert env.load(saved[k][0].id) == saved[k][1]
    assert env.load(child.id) == child_bytes
    for k in (0, 4, 5, 6):
        with pytest.raises(errors.FailedPrecondition, match=f"snapshot {saved[k][0].id} was pruned at .*load a later"):
            env.load(saved[k][0].id)
    # records stay: the log walks every save, and merge bases run over pruned snapshots
    log, _ = env.store.log("a")
    assert [r.id for r in log] == [r.id for r, _ in reversed(saved)]
    assert env.meta.lowest_common_ancestors(saved[5][0].id, saved[7][0].id) == [saved[5][0].id]
    again = env.house.collect(ADMIN, 0.0)  # nothing left to sweep
    assert all(t.count == 0 for t in again.swept.values())


def test_dry_run_reports_what_would_go_and_changes_nothing(env):
    _pruned_game(env)
    before = env.stored()
    dry = env.house.collect(ADMIN, 0.0, dry_run=True)
    assert env.stored() == before
    assert dry.swept["chunks"].count > 0 and dry.swept["chunks"].bytes >= 4 * 4096
    real = env.house.collect(ADMIN, 0.0)
    assert {k: (t.count, t.bytes) for k, t in real.swept.items()} == \
        {k: (t.count, t.bytes) for k, t in dry.swept.items()}
    assert dry.as_dict()["dry_run"] and not real.as_dict()["dry_run"]


def test_grace_window_keeps_young_garbage(env):
    data = window(1000)
    manifest, pieces = cut(data)
    state = env.store.chunks.put_state(data, pieces, manifest, [""] * len(pieces))  # no snapshot names it
    kept = env.house.collect(ADMIN, 3600.0)
    assert all(t.count == 0 for t in kept.swept.values())
    assert env.store.chunks.manifest(state) is not None
    gone = env.house.collect(ADMIN, 0.0)
    assert gone.swept["manifests"].count == 1 and gone.swept["packs"].count == 1
    assert gone.swept["chunks"].count == len(set(manifest.addresses))
    assert gone.swept["packs"].bytes == sum(len(p) for p in pieces)
    assert not env.raw.exists(state)


def test_delete_world_hides_it_and_frees_what_nothing_else_needs(env):
    saved = env.game("a", 4)
    child = env.cross("c", saved[0][0], saved[1][0])
    env.world("b")
    env.save("b", window(0))  # shares a's first window: its chunks stay
    deleted = env.house.delete_world(ADMIN, "a")
    assert (deleted.pruned, deleted.kept, deleted.heads) == (2, 2, 1)
    with pytest.raises(errors.NotFound, match="'a' was deleted at"):
        env.meta.get_world("a")
    assert "a" not in [w.name for w in env.meta.list_worlds()] and "a" not in env.meta.readable_worlds(None)
    with pytest.raises(errors.NotFound):
        env.save("a", window(100))
    with pytest.raises(errors.AlreadyExists, match="belonged to a world deleted"):
        env.store.create_world(ADMIN, "a", "gc")
    with pytest.raises(errors.NotFound):
        env.house.delete_world(ADMIN, "a")
    env.house.collect(ADMIN, 0.0)
    assert env.load(child.id) and env.load("b") == window(0)
    assert env.load(saved[0][0].id) == saved[0][1]  # a cross's input outlives its world
    with pytest.raises(errors.FailedPrecondition, match="was pruned"):
        env.load(saved[3][0].id)
    log, _ = env.store.log(child.id)  # the lineage still walks into the deleted world
    assert {r.id for r in log} >= {saved[0][0].id, saved[1][0].id}


def test_only_admins_and_a_safe_grace(env, monkeypatch):
    env.game("a", 1)
    for call in (lambda: env.house.collect(SERVER, 0.0), lambda: env.house.prune(SERVER, time.time()),
                 lambda: env.house.delete_world(SERVER, "a")):
        with pytest.raises(errors.PermissionDenied, match="only an admin key"):
            call()
    with pytest.raises(errors.InvalidArgument, match="before"):
        env.house.prune(ADMIN, time.time() + 3600)
    from multiverse.chunks import store as chunk_store

    monkeypatch.setattr(chunk_store, "TOUCH_SLACK_S", 60.0)
    with pytest.raises(errors.InvalidArgument, match="grace=30 is not valid: use at least 120 seconds"):
        check_grace(30)
    assert env.meta.get_world("a").deleted_at is None


def test_token_table_is_read_by_name():
    assert keep.TOKENS.name == tables.tokens.name and "snapshot" in tables.tokens.c
