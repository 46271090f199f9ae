"""The rarity service in the App, without gRPC: every commit is scored (token spaces too), a re-save is not
scored twice, and a damaged pointer costs a rebuild, never a wrong score."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from multiverse.app import App
from multiverse.config import Settings
from multiverse.errors import Unavailable
from multiverse.metadata import open_metadata
from multiverse.metadata.models import rarity_indexes
from multiverse.rarity import VectorId
from multiverse.rarity.engine import RarityEngine
from multiverse.records import ROLE_ADMIN, SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest

ADMIN = Principal("root", ROLE_ADMIN)
TOKENS = SpaceRecord("tokens", (6, 8), "uint16", 4, vocab_size=512)


def save(app: App, world: str, data: bytes, key: str = "") -> str:
    head = app.store.heads(world).get("main", "")
    record, _ = app.store.save(ADMIN, SaveRequest(world, len(data), expected_parent=head, idempotency_key=key),
                                     [data])
    return record.id


def test_token_space_saves_are_scored_and_survive_a_lost_pointer(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    app = App.open(settings)
    try:
        app.store.register_space(ADMIN, TOKENS)
        app.store.create_world(ADMIN, "t1", "tokens")
        snaps = [save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=s), key=f"k{s}") for s in range(4)]
        again = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=3), key="k3")  # a retried save
        assert again == snaps[-1]
        assert all(app.rarity.wait_scored(s, timeout=30) for s in snaps) and app.rarity.wait_idle(30)
        engine = app.rarity.engine("tokens")
        stats = engine.stats()
        assert stats["frame"].embedder.startswith("token-sketch") and stats["frame"].snapshots == 4
        assert stats["frame"].ids == 120 and stats["player"].ids == 8
        before = engine.rarity_of(VectorId(snaps[1], "frame", 4))
    finally:
        app.close()
    with open_metadata(settings.database_url) as meta:  # the pointer now names a blob that is not there
        meta.point_rarity_index("tokens", "f" * 64, 0.0)
    reopened = App.open(settings)
    try:
        assert reopened.rarity.wait_idle(30)  # rebuilt from metadata and blobs in the background
        engine = reopened.rarity.engine("tokens")
        assert engine.loaded_from is None
        after = engine.rarity_of(VectorId(snaps[1], "frame", 4))
        assert (after.score, after.tier, after.knn_distance, after.n) == (before.score, before.tier,
                                                                         before.knn_distance, before.n)
        repaired = reopened.meta.rarity_manifests()["tokens"]  # the rebuilt index was saved and pointed at
        assert repaired != "f" * 64 and RarityEngine.load(reopened.blobs, repaired).has_snapshot(snaps[1])
    finally:
        reopened.close()


def test_the_index_pointer_lives_in_the_metadata_and_a_pointer_file_of_older_releases_is_adopted(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    app = App.open(settings)
    try:
        app.store.register_space(ADMIN, TOKENS)
        app.store.create_world(ADMIN, "t1", "tokens")
        snap = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=5), key="k")
        assert app.rarity.wait_scored(snap, timeout=30)
    finally:
        app.close()
    with open_metadata(settings.database_url) as meta:
        digest = meta.rarity_manifests()["tokens"]
        # as a release before migration 0003 left it: the pointer in a file, none in the metadata
        with meta.engine.begin() as conn:
            conn.execute(sa.delete(rarity_indexes))
    legacy = settings.data_dir / "rarity" / "pointers.json"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(json.dumps({"format": "multiverse.rarity.pointers/1", "spaces": {"tokens": digest}}))
    reopened = App.open(settings)
    try:
        assert reopened.rarity.engine("tokens").loaded_from == digest  # loaded, not rebuilt
        assert reopened.rarity.wait_idle(30)  # the start-up checkpoint saved it and pointed at it
        assert reopened.meta.rarity_manifests() == {"tokens": digest}
    finally:
        reopened.close()


def test_flushes_wait_for_enough_new_vectors_not_only_enough_snapshots(tmp_path):
    """A flush rewrites whole engines: it waits for persist_every snapshots and for persist_fraction of the
    engine's vectors to be new, so the bytes written per vector added stay bounded as the index grows."""
    app = App.open(Settings(data_dir=tmp_path / "data"))
    try:
        service = app.rarity
        service.persist_every, service.persist_fraction = 2, 0.5
        service.publish_s = 0  # no timed publishing (for readers in other processes): only the bound under test
        flushed_at: list[int] = []  # vectors in the engine when the worker flushed
        real_flush = service.flush
        service.flush = lambda: (flushed_at.append(service.engine("tokens").rows()), real_flush())[1]
        app.store.register_space(ADMIN, TOKENS)
        app.store.create_world(ADMIN, "t1", "tokens")
        for n in range(1, 9):  # equal snapshots of 32 vectors (30 frames, 2 players)
            save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=100 + n), key=f"f{n}")
            assert service.wait_idle(30)  # idle: scored, and flushed when a flush was due
        # after snapshot 2 (64 new of 64), 4 (64 of 128) and 8 (128 of 256); not 6 (64 of 192 is under half)
        assert flushed_at == [64, 128, 256]
        pointer = app.meta.rarity_manifests()["tokens"]
        assert real_flush() == {"tokens": pointer}  # nothing new since the last flush: the same manifest
    finally:
        app.close()


def test_a_failed_flush_keeps_scoring_and_the_next_flush_saves(tmp_path):
    """A flush that cannot write (the blob store is down, say) neither stops the worker nor loses the changes."""
    app = App.open(Settings(data_dir=tmp_path / "data"))
    try:
        service = app.rarity
        service.persist_every, service.persist_fraction = 1, 0.0
        app.store.register_space(ADMIN, TOKENS)
        app.store.create_world(ADMIN, "t1", "tokens")
        real_save, failing = RarityEngine.save, [True]

        def save_or_fail(engine, blobs):
            if failing[0]:
                raise Unavailable("the blob store is down")
            return real_save(engine, blobs)

        RarityEngine.save = save_or_fail
        try:
            first = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=7), key="a")
            assert service.wait_scored(first, timeout=30) and service.wait_idle(30)
            assert app.meta.rarity_manifests() == {}
            failing[0] = False
            second = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=8), key="b")
            assert service.wait_scored(second, timeout=30) and service.wait_idle(30)
        finally:
            RarityEngine.save = real_save
        pointer = app.meta.rarity_manifests()["tokens"]
        loaded = RarityEngine.load(app.blobs, pointer)
        assert loaded.has_snapshot(first) and loaded.has_snapshot(second)
    finally:
        app.close()


def test_pending_counts_a_save_the_follower_has_not_fetched_yet(tmp_path):
    """``pending`` (RarityStats.pending) is every committed snapshot not scored yet, so a client that saves and
    then waits for it to reach 0 sees its save scored; before, it counted only what the follower had queued."""
    settings = Settings(data_dir=tmp_path / "data")
    app = App.open(settings)
    try:
        app.store.register_space(ADMIN, TOKENS)
        app.store.create_world(ADMIN, "t1", "tokens")
        first = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=1))
        assert app.rarity.wait_scored(first) and app.rarity.wait_idle() and app.rarity.pending == 0
        with app.rarity._lock:  # the follower cannot fetch, nor the worker score, until it is let go
            later = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=2))
            assert app.rarity.pending == 1
        deadline = time.monotonic() + 60
        while app.rarity.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.rarity.wait_scored(later, timeout=0)
    finally:
        app.close()
