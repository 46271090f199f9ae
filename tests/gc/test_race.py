"""Saves in flight against collections with a 0.5 s grace window: no acknowledged save ever loses a chunk."""

from __future__ import annotations

import threading
import time

import pytest

from multiverse import errors
from multiverse.chunks.cut import cut
from multiverse.store.store import SaveRequest
from tests.gc.world import ADMIN, SERVER, window

GRACE = 0.5


def test_saves_racing_collections_lose_nothing(env):
    worlds = ["r0", "r1", "r2"]
    for w in worlds:
        env.world(w)
    stop, failures, refused, acked = threading.Event(), [], [], {w: [] for w in worlds}
    collections = []

    def game(w: str, first: int) -> None:
        try:
            for k in range(12):
                data = window(first + 4 * k)
                for _ in range(20):  # a save refused cleanly (its bytes swept or being swept under it) is retried
                    try:
                        acked[w].append((env.save(w, data), data))
                        break
                    except (errors.Unavailable, errors.FailedPrecondition) as exc:
                        if isinstance(exc, errors.HeadMoved):
                            raise
                        refused.append(exc)
                        time.sleep(0.05)
                env.house.prune(ADMIN, time.time() - 0.2, world=w)  # its older saves become garbage
                time.sleep(0.05)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def collector() -> None:
        while not stop.is_set():
            try:
                collections.append(env.house.collect(ADMIN, GRACE))
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)
                return

    threads = [threading.Thread(target=game, args=(w, 7 * i)) for i, w in enumerate(worlds)]
    sweeper = threading.Thread(target=collector)
    sweeper.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(GRACE)
    stop.set()
    sweeper.join()
    assert not failures, failures
    assert all(len(acked[w]) == 12 for w in worlds), refused
    assert len(collections) >= 3 and sum(c.swept["chunks"].count for c in collections) > 0
    for w in worlds:
        assert env.load(w) == acked[w][-1][1]  # every head loads as saved
        for record, data in acked[w]:  # and every save not pruned
            if env.meta.get_snapshot(record.id).pruned_at is None:
                assert env.load(record.id) == data


def test_a_save_that_waits_past_a_collection_commits_or_fails_cleanly(env):
    env.world("w")
    first = env.save("w", window(0))
    env.world("v")
    old = env.save("v", window(0))
    env.house.prune(ADMIN, time.time())  # v's only save is its head: kept; w's too
    data = window(4)  # shares 12 frames with window(0)
    manifest, pieces = cut(data)
    missing = env.store.find_missing_chunks(SERVER, b"".join(bytes.fromhex(a) for a in manifest.addresses))
    assert 0 < len(missing) < len(pieces)
    # the offered chunks are kept only through the grace window: once it passed, a collection may take them
    env.house.delete_world(ADMIN, "v")
    env.house.delete_world(ADMIN, "w")
    time.sleep(GRACE + 0.1)
    assert env.house.collect(ADMIN, GRACE).swept["chunks"].count > 0
    req = SaveRequest("x", len(data))
    env.world("x")
    sent = [(i, bytes(pieces[i])) for i in missing]
    with pytest.raises(errors.FailedPrecondition, match="not stored|ask which chunks are missing"):
        env.store.save_chunks(SERVER, req, manifest, sent)
    assert env.meta.get_head("x", "main") is None  # nothing visible
    again = env.store.find_missing_chunks(SERVER, b"".join(bytes.fromhex(a) for a in manifest.addresses))
    record, created = env.store.save_chunks(SERVER, req, manifest, [(i, bytes(pieces[i])) for i in again])
    assert created and env.load(record.id) == data
    assert first.id != old.id
