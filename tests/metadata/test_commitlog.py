"""The commit sequence: seq order is commit order, so a reader polling ``commits_after`` never misses a commit,
with committers in many threads (SQLite and PostgreSQL) and in two processes (PostgreSQL); rarity pointers carry
the seq they cover and are fenced by a lease."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from multiverse.errors import InvalidArgument, NotFound
from multiverse.metadata import open_metadata
from multiverse.metadata.leases import LeaseLost
from multiverse.metadata.leases import Leases
from multiverse.records import SpaceRecord
from tests.metadata.factory import SPACE, snap, world

ROOT = Path(__file__).resolve().parents[2]


class Follower(threading.Thread):
    """Polls ``commits_after`` from the last seq it saw, as a rarity worker does, until told to stop."""

    def __init__(self, meta, space: str | None = None) -> None:
        super().__init__(daemon=True)
        self.meta, self.space, self.seen, self.stop = meta, space, [], threading.Event()

    def run(self) -> None:
        last, done = 0, False
        while not done:
            done = self.stop.is_set()  # one more poll after the writers finished
            for record in self.meta.commits_after(last, 50, space=self.space):
                assert record.seq > last
                self.seen.append(record)
                last = record.seq
            if not done:
                time.sleep(0.001)


def test_commits_come_back_in_commit_order_with_their_seq(meta_w):
    root = snap(t=1.0)
    saved, _ = meta_w.commit_snapshot(root, head="main", expected=None)
    child = snap(parents=[root], t=2.0)
    meta_w.commit_snapshot(child, head="main", expected=root.id)
    assert saved.seq == 1
    assert [(r.id, r.seq) for r in meta_w.commits_after(0)] == [(root.id, 1), (child.id, 2)]
    assert [r.id for r in meta_w.commits_after(1)] == [child.id] and meta_w.commits_after(2) == []
    assert meta_w.commits_after(0)[1].parents == (root.id,) and meta_w.last_seq() == 2
    # a replayed save (its idempotency key seen) is not a new commit; a spawned world's first snapshot is one
    keyed = snap(parents=[child], t=2.5)
    meta_w.commit_snapshot(keyed, head="main", expected=child.id, idempotency_key="k")
    assert meta_w.commit_snapshot(keyed, head="main", expected=child.id, idempotency_key="k")[0].seq == 3
    other = SpaceRecord("other", (4,), "float32", 0)
    meta_w.put_space(other)
    _, first, _ = meta_w.spawn_world(world("o", space="other"), snap("o", t=3.0))
    assert first.seq == 4 and meta_w.last_seq() == 4
    assert [r.id for r in meta_w.commits_after(0, space="other")] == [first.id]
    assert [r.id for r in meta_w.commits_after(0, space=SPACE.name)] == [root.id, child.id, keyed.id]
    assert [r.id for r in meta_w.commits_after(0, limit=1)] == [root.id]
    with pytest.raises(InvalidArgument, match="seq"):
        meta_w.commits_after(-1)
    with pytest.raises(InvalidArgument, match="limit"):
        meta_w.commits_after(0, limit=0)


def test_a_reader_polling_commits_after_misses_none_of_many_concurrent_committers(meta_w):
    follower = Follower(meta_w)
    follower.start()
    errors: list[Exception] = []

    def commit(writer: int) -> None:
        try:
            for i in range(15):
                meta_w.commit_snapshot(snap(t=float(i), writer=writer, i=i), head=f"h{writer}-{i}", expected=None)
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    follower.stop.set()
    follower.join(30)
    assert not errors
    seqs = [r.seq for r in follower.seen]
    assert seqs == list(range(1, 8 * 15 + 1))  # every commit, once, in order, no gaps
    assert {r.id for r in follower.seen} == {r.id for r in meta_w.commits_after(0, limit=1000)}


@pytest.mark.postgres
@pytest.mark.slow
def test_a_reader_misses_no_commit_of_two_processes_on_postgres(postgres_url, tmp_path):
    from tests.support.postgres import create_schema

    url = create_schema(postgres_url)
    with open_metadata(url) as meta:
        meta.put_space(SPACE)
        meta.create_world(world("w"))
        follower = Follower(meta)
        follower.start()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        procs = [subprocess.Popen([sys.executable, "-m", "tests.metadata.race_worker", url, str(n), "25",
                                   str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for n in range(2)]
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        (tmp_path / "go").touch()
        acknowledged = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            acknowledged += json.loads(out)
        follower.stop.set()
        follower.join(30)
        assert len(acknowledged) == 50
        assert [r.seq for r in follower.seen] == list(range(1, 51))
        assert {r.id for r in follower.seen} == set(acknowledged)


def test_a_pointer_carries_its_seq_and_a_lost_lease_cannot_move_it(meta_w):
    leases = Leases(meta_w)
    a = leases.acquire("rarity:tileworld-v1", "a", ttl_s=30)
    assert meta_w.point_rarity_index(SPACE.name, "a" * 64, 1.0, seq=5, lease=a) is None
    assert meta_w.rarity_pointers()[SPACE.name].seq == 5
    assert meta_w.point_rarity_index(SPACE.name, "b" * 64, 2.0) == "a" * 64  # no seq given: the seq stays
    assert meta_w.rarity_pointers()[SPACE.name].seq == 5 and meta_w.rarity_manifests() == {SPACE.name: "b" * 64}
    leases.release(a)
    b = leases.acquire("rarity:tileworld-v1", "b", ttl_s=30)
    assert b is not None and b.token == a.token + 1
    with pytest.raises(LeaseLost, match="no longer held"):
        meta_w.point_rarity_index(SPACE.name, "c" * 64, 3.0, seq=9, lease=a)
    pointer = meta_w.rarity_pointers()[SPACE.name]
    assert (pointer.manifest, pointer.seq) == ("b" * 64, 5)  # unchanged
    meta_w.point_rarity_index(SPACE.name, "d" * 64, 4.0, seq=9, lease=b)
    assert meta_w.rarity_pointers()[SPACE.name].seq == 9
    with pytest.raises(NotFound):
        meta_w.point_rarity_index("nope", "d" * 64, 4.0)
