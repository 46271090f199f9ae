"""Several rarity workers on one PostgreSQL: spaces spread by lease, a dead worker's spaces taken over after the TTL
and caught up from the persisted seq, every committed snapshot in exactly one index once, a stalled worker fenced
off, and readers following the holder's pointer. Each worker is its own RarityService over its own connection."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import sys
import time
from pathlib import Path

import pytest

from multiverse.blobs import open_blob_store
from multiverse.metadata import open_metadata
from multiverse.metadata.leases import Leases
from multiverse.rarity.service import RarityService
from tests.rarity.fleet import SPACES, check_exactly_once, commit, setup, wait_for

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
FAST = {"lease_ttl_s": 1.5, "poll_s": 0.1, "reload_s": 0.3, "publish_s": 0.3}


@pytest.fixture
def db(postgres_url):
    from tests.support.postgres import create_schema

    url = create_schema(postgres_url)
    with open_metadata(url) as meta:
        setup(meta)
        yield url, meta


def worker(url: str, blobs, tmp_path: Path, holder: str, **kw) -> RarityService:
    return RarityService.open(open_metadata(url), blobs, tmp_path / holder, role="worker", holder=holder,
                              **{**FAST, **kw})


def held(service: RarityService) -> set[str]:
    return set(service.describe()["held"])


def test_two_workers_split_three_spaces_and_the_survivor_takes_over_and_catches_up(db, tmp_path):
    url, meta = db
    blobs = open_blob_store(str(tmp_path / "blobs"))
    a = worker(url, blobs, tmp_path, "a")
    b = worker(url, blobs, tmp_path, "b")
    reader = RarityService.open(open_metadata(url), blobs, tmp_path / "r", role="reader", **FAST)
    try:
        wait_for(lambda: len(held(a)) + len(held(b)) == 3 and held(a) and held(b), what="a split")
        assert held(a).isdisjoint(held(b)) and {len(held(a)), len(held(b))} == {1, 2}
        first = [commit(meta, blobs, space, seed=i) for i, space in enumerate(SPACES)]
        for record, space in zip(first, SPACES):
            holder = a if space.name in held(a) else b
            assert holder.wait_scored(record.id, 20)
            assert reader.wait_scored(record.id, 20)  # the holder published; the reader loaded it
        b._stop_worker()  # b dies: its threads stop, its leases are neither renewed nor released, nothing flushed
        gone = held(b)
        later = [commit(meta, blobs, space, seed=10 + i) for i, space in enumerate(SPACES) for _ in range(2)]
        wait_for(lambda: held(a) == {s.name for s in SPACES}, 20, "a takes b's spaces after the TTL")
        assert all(a.wait_scored(r.id, 20) for r in later) and a.wait_idle(20)
        a.flush()
        check_exactly_once(meta, blobs)
        assert all(reader.wait_scored(r.id, 20) for r in later)
        assert gone and all(Leases(meta).holder(f"rarity:{name}").holder == "a" for name in gone)
    finally:
        for service in (a, reader):
            service.close()


def test_a_stalled_worker_whose_lease_was_taken_cannot_flush_over_the_new_holders_index(db, tmp_path):
    url, meta = db
    blobs = open_blob_store(str(tmp_path / "blobs"))
    slow = {"publish_s": 0, "persist_every": 10_000}  # nothing published but what a test flushes
    a = worker(url, blobs, tmp_path, "a", **slow)
    wait_for(lambda: len(held(a)) == 3, what="a holds every space")
    one = commit(meta, blobs, SPACES[0], seed=1)
    assert a.wait_scored(one.id, 20)
    a._stop_worker()  # a stalls: no renewals, while it still believes it holds its leases
    b = worker(url, blobs, tmp_path, "b", **slow)
    try:
        two = commit(meta, blobs, SPACES[0], seed=2)
        wait_for(lambda: len(held(b)) == 3, 20, "b takes over after the TTL")
        assert b.wait_scored(one.id, 20) and b.wait_scored(two.id, 20) and b.wait_idle(20)
        published = b.flush()[SPACES[0].name]
        assert SPACES[0].name not in a.flush()  # fenced: a's stale index (without `two`) is not pointed at
        assert meta.rarity_manifests()[SPACES[0].name] == published and SPACES[0].name not in held(a)
        check_exactly_once(meta, blobs)
    finally:
        b.close()
        a.meta.close()


@pytest.mark.slow
def test_sigkill_of_a_worker_process_loses_and_doubles_nothing(db, tmp_path):
    url, meta = db
    blobs_dir = tmp_path / "blobs"
    blobs = open_blob_store(str(blobs_dir))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = {h: subprocess.Popen([sys.executable, "-m", "tests.rarity.worker_proc", url, str(blobs_dir), h],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for h in ("p1", "p2")}
    leases = Leases(meta)

    def holders() -> dict[str, str]:
        return {s.name: (lease.holder if (lease := leases.holder(f"rarity:{s.name}")) else "") for s in SPACES}

    try:
        for proc in procs.values():
            assert proc.stdout.readline().strip() == "ready"
        wait_for(lambda: set(holders().values()) == {"p1", "p2"}, 30, "the processes split the spaces")
        records = [commit(meta, blobs, space, seed=i) for i, space in enumerate(SPACES) for _ in range(2)]
        victim = holders()[SPACES[0].name]
        time.sleep(0.5)  # mid-stream: some of these are scored and published, some not
        records += [commit(meta, blobs, space, seed=20 + i) for i, space in enumerate(SPACES)]
        procs[victim].send_signal(signal.SIGKILL)
        records += [commit(meta, blobs, space, seed=40 + i) for i, space in enumerate(SPACES)]
        survivor = ({"p1", "p2"} - {victim}).pop()
        wait_for(lambda: set(holders().values()) == {survivor}, 30, "the survivor holds every space")
        last = {s.name: meta.commits_after(0, 1000, space=s.name)[-1].seq for s in SPACES}
        wait_for(lambda: all(p.seq == last[n] for n, p in meta.rarity_pointers().items()) and
                 len(meta.rarity_pointers()) == 3, 30, "every space published up to its last commit")
        check_exactly_once(meta, blobs)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(10)


def test_a_reader_tells_its_watchers_what_the_worker_scored(db, tmp_path):
    """A reader process (the gallery of a split topology) scores nothing, so its live feed (``watch``) hears of new
    vectors when it loads the index the worker published: each vector of each later snapshot once, none before."""
    url, meta = db
    blobs = open_blob_store(str(tmp_path / "blobs"))
    a = worker(url, blobs, tmp_path, "a")
    reader = RarityService.open(open_metadata(url), blobs, tmp_path / "r", role="reader", **FAST)
    heard: list[tuple[str, str, int]] = []
    stop = threading.Event()

    def listen() -> None:
        for _, score in reader.watch(SPACES[0].name, tier="common", stop=stop.is_set):
            heard.append((score.id.snapshot, score.id.kind, score.id.index))

    listener = threading.Thread(target=listen, daemon=True)
    try:
        wait_for(lambda: held(a) == {s.name for s in SPACES}, what="the worker holds every space")
        before = commit(meta, blobs, SPACES[0], seed=1)
        assert reader.wait_scored(before.id, 20)  # the first index it loads is its start, not news
        listener.start()
        time.sleep(0.2)
        later = [commit(meta, blobs, SPACES[0], seed=10 + i) for i in range(3)]
        later.append(commit(meta, blobs, SPACES[1], seed=20))  # another space: not watched
        assert all(reader.wait_scored(r.id, 20) for r in later)
        want = {(r.id, kind, i) for r in later[:3] for kind, n in (("frame", r.frame_count), ("player", r.player_count))
                for i in range(n)}
        wait_for(lambda: set(heard) == want, 20, "the reader's news of every vector of the later snapshots")
        time.sleep(3 * FAST["reload_s"])
        assert len(heard) == len(want)  # each once (and nothing of the first snapshot, nor of the other space)
    finally:
        stop.set()
        for service in (a, reader):
            service.close()


def test_a_slow_index_load_does_not_cost_the_other_leases(db, tmp_path, monkeypatch):
    """Loading a big index (a followed space's newly published one, a taken-over space's) runs on the follower
    thread; the leases and the worker's announcement are renewed by a thread of their own, so a load three TTLs
    long loses none of them to the other worker (which would otherwise find them expired and take them)."""
    url, meta = db
    blobs = open_blob_store(str(tmp_path / "blobs"))
    a = worker(url, blobs, tmp_path, "a")
    b = worker(url, blobs, tmp_path, "b")
    try:
        wait_for(lambda: len(held(a)) + len(held(b)) == 3 and held(a) and held(b), what="a split")
        lost: list[str] = []
        lose, follow = a._lose, a._follow_pointers
        monkeypatch.setattr(a, "_lose", lambda name, epoch: (lost.append(name), lose(name, epoch)))

        def slow() -> None:  # every reload of another's index takes three TTLs
            time.sleep(3 * FAST["lease_ttl_s"])
            follow()

        monkeypatch.setattr(a, "_follow_pointers", slow)
        mine = {n: Leases(meta).holder(f"rarity:{n}").token for n in held(a)}
        for i, space in enumerate(SPACES):
            commit(meta, blobs, space, seed=i)
        time.sleep(5 * FAST["lease_ttl_s"])
        assert not lost and held(a) == set(mine)
        assert {n: Leases(meta).holder(f"rarity:{n}").token for n in mine} == mine  # held all along, never retaken
    finally:
        for service in (a, b):
            service.close()
