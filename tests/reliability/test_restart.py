"""A server that always starts again (issue 12, item 0). Each fault once bricked `multiverse up` on its data:

- a stored snapshot that the rarity worker cannot score made every later start exit;
- once a space's index had turned IVF (past ``IndexSettings.exact_limit``), a restart crashed loading it;
- start-up scored every unscored snapshot before serving, and SIGTERM waited for the whole backlog.

Each test runs `multiverse up` as a user does, stops it cleanly (SIGTERM) and by SIGKILL, and starts it again on
the same data. What the store's own checks would refuse is written straight through the domain (blobs and
metadata), as a release with laxer checks, a bit flip or another writer could have left it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from safetensors.torch import save as st_save

from multiverse import errors
from multiverse.app import App
from multiverse.blobs import open_blob_store
from multiverse.blobs.local import LocalBlobStore
from multiverse.client import Client
from multiverse.config import Settings
from multiverse.metadata import open_metadata
from multiverse.rarity import RarityEngine, worker
from multiverse.rarity.service import RarityService
from multiverse.records import ROLE_ADMIN, SnapshotRecord, SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)
ADMIN = Principal("root", ROLE_ADMIN)
ROOT = Path(__file__).resolve().parents[2]
SERVE_S = 25.0  # spawn to serving: most of it is importing Python, torch and FAISS on a busy 2-core machine
STOP_S = 10.0  # SIGTERM to exit, whatever is queued
QUIET = {"MULTIVERSE_MARKET": "off"}  # no chain: these faults are the rarity service's


@dataclass
class Server:
    proc: subprocess.Popen
    address: str
    started_in: float  # seconds from spawn to the "serving" banner
    log: list[str] = field(default_factory=list)

    def client(self, data: Path) -> Client:
        return Client(self.address, (data / "admin.key").read_text().strip())

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Send ``sig`` and wait for the exit; returns the seconds it took."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"multiverse up was still running 60 s after signal {sig}:\n" + "".join(self.log[-40:]))
        return time.monotonic() - started


def start(data: Path, **env: str) -> Server:
    """`multiverse up` on a free port, once it serves (health SERVING); fails the test if it exits instead."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "multiverse.cli", "--data", str(data), "--grpc", "127.0.0.1:0", "up", "--no-demo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **QUIET, **env},
    )
    lines: list[str] = []
    while time.monotonic() - started < 120:
        line = proc.stdout.readline()
        lines.append(line)
        if match := re.match(r"gRPC\s+(\S+)", line):
            server = Server(proc, match.group(1), time.monotonic() - started, lines)
            threading.Thread(target=_drain, args=(proc, lines), daemon=True).start()
            with grpc.insecure_channel(server.address) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            return server
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    pytest.fail(f"multiverse up did not start (exit code {proc.returncode}):\n" + "".join(lines[-60:]))


def _drain(proc: subprocess.Popen, lines: list[str]) -> None:
    for line in proc.stdout:
        lines.append(line)


def wait_idle(client: Client, timeout: float = 120.0) -> None:
    """Until the server's rarity worker has nothing queued."""
    deadline = time.monotonic() + timeout
    while client.rarity_stats("demo").pending:
        assert time.monotonic() < deadline, f"the rarity backlog was not scored in {timeout:.0f} s"
        time.sleep(0.1)


def every_score(client: Client) -> dict:
    """{(snapshot, kind, index): (score, tier, knn distance)} of every distinct vector, as the server answers."""
    out = {}
    for kind in ("frame", "player"):
        token = ""
        while True:
            page = client.top_rare("demo", kind=kind, limit=1000, page_token=token)
            out.update({(s.id.snapshot, s.id.kind, s.id.index): (s.score, s.tier, s.knn_distance) for s in page.items})
            token = page.next_page_token
            if not token:
                break
    return out


def first_run(data: Path, saves: int, frames: int, **env: str) -> list[str]:
    """A server registers the space, saves ``saves`` snapshots into world w1, scores them and stops cleanly."""
    server = start(data, **env)
    try:
        client = server.client(data)
        client.register_space("demo", SPACE.frame_shape, "float16", SPACE.player_dim)
        client.create_world("w1", "demo")
        snaps = [client.save_snapshot("w1", synth_state(SPACE, frames=frames, players=2, seed=s)).snapshot.id
                 for s in range(saves)]
        wait_idle(client)
    finally:
        assert server.stop() < STOP_S
    return snaps


@contextmanager
def domain(data: Path) -> Iterator[tuple]:
    """The stopped server's metadata and blobs, written without fsync (a generator's speed, not a server's)."""
    meta = open_metadata(Settings(data_dir=data).database_url)
    meta.engine.dispose()
    sa.event.listen(meta.engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
    try:
        yield meta, LocalBlobStore(data / "blobs", fsync=False)
    finally:
        meta.close()


def commit(meta, blobs, world: str, state: bytes, *, frames: int, players: int) -> SnapshotRecord:
    """Store ``state`` and commit it as the new head of ``world``, as the store does after its checks."""
    head = meta.get_head(world, "main")
    generation = meta.get_snapshot(head).generation + 1 if head else 1
    body = SnapshotRecord("", world, (head,) if head else (), blobs.put_bytes(state), len(state), frames, players,
                          generation, time.time(), {}).body()
    record = SnapshotRecord(id="", **{**body, "parents": tuple(body["parents"])}).sealed()
    return meta.commit_snapshot(record, head="main", expected=head)[0]


def unreadable_state() -> bytes:
    """A state no reader can score: its metadata lacks ``timeline`` (the validator once defaulted it, the reader
    indexes it) and its frames are not of the space's shape."""
    frames = torch.randn((5, 7)).half()
    return st_save({"frames": frames, "players": torch.zeros((0, 8)).half()}, metadata={"space": "demo", "players": "[]"})


def test_a_snapshot_that_cannot_be_scored_is_recorded_and_never_stops_a_start(tmp_path):
    data = tmp_path / "data"
    good = first_run(data, saves=3, frames=20)
    with domain(data) as (meta, blobs):
        poisoned = commit(meta, blobs, "w1", unreadable_state(), frames=5, players=0).id
        later = commit(meta, blobs, "w1", synth_state(SPACE, frames=20, players=2, seed=9), frames=20, players=2).id
    logs = []
    for sig in (signal.SIGKILL, signal.SIGTERM):  # the first start records it; a start after a crash skips it
        server = start(data)  # before the fix: exit code 1 (KeyError: 'timeline'), at every start
        try:
            client = server.client(data)
            wait_idle(client)
            scores = every_score(client)
            assert {snap for snap, _, _ in scores} == {*good, later}, "the rest goes on: every other snapshot scored"
            assert client.rarity_of(later, "frame", 19).world == "w1"
            with pytest.raises(errors.NotFound):
                client.rarity_of(poisoned, "frame", 0)
        finally:
            server.stop(sig)
            logs.append("".join(server.log))
    assert "cannot be scored" in logs[0] and "cannot be scored" not in logs[1], "reported once, not at every start"
    assert "1 stored snapshots of demo are recorded as unscorable" in logs[1]
    app = App.open(Settings(data_dir=data))
    try:
        assert app.rarity.wait_idle(30)
        report = app.rarity.describe()["unscorable"]
        assert list(report) == ["demo"] and list(report["demo"]) == [poisoned] and report["demo"][poisoned]  # why
        with pytest.raises(errors.MultiverseError, match="could not be scored"):
            app.rarity.wait_scored(poisoned, timeout=1)
        assert app.rarity.wait_scored(later, timeout=1)
    finally:
        app.close()


def test_an_unscorable_snapshot_does_not_stop_a_rebuild(tmp_path):
    """With no saved index to load (a lost pointer, a new configuration), the rebuild skips it and records it."""
    data = tmp_path / "data"
    good = first_run(data, saves=2, frames=20)
    with domain(data) as (meta, blobs):
        poisoned = commit(meta, blobs, "w1", unreadable_state(), frames=5, players=0).id
        meta.point_rarity_index("demo", "f" * 64, 0.0)  # a pointer to nothing: the index must be rebuilt
    app = App.open(Settings(data_dir=data))
    try:
        assert app.rarity.wait_idle(60)
        engine = app.rarity.engine("demo")
        assert engine.loaded_from is None and engine.stats()["frame"].snapshots == len(good)
        assert list(app.rarity.describe()["unscorable"]["demo"]) == [poisoned]
        saved = app.meta.rarity_manifests()["demo"]
    finally:
        app.close()
    reopened = App.open(Settings(data_dir=data))
    try:  # the record was saved with the rebuilt index: nothing to retry
        assert reopened.rarity.engine("demo").loaded_from == saved and reopened.rarity.pending <= 1
        assert list(reopened.rarity.describe()["unscorable"]["demo"]) == [poisoned]
    finally:
        reopened.close()


def test_a_space_past_the_exact_limit_starts_again_after_a_clean_stop_and_after_sigkill(tmp_path):
    data, ivf = tmp_path / "data", {"MULTIVERSE_RARITY_EXACT_LIMIT": "300"}
    snaps = first_run(data, saves=4, frames=100, **ivf)  # 400 frames: the frame index is IVF
    server = start(data, **ivf)  # before the fix: a crash in index.reconstruct (a freed FAISS index)
    try:
        client = server.client(data)
        wait_idle(client)
        frame = {k.kind: k for k in client.rarity_stats("demo").kinds}["frame"]
        assert frame.index_kind == "ivf" and frame.points == 400
        before = every_score(client)
        assert {snap for snap, _, _ in before} == set(snaps)
        later = client.save_snapshot("w1", synth_state(SPACE, frames=100, players=2, seed=50)).snapshot.id
        wait_idle(client)
        with_later = every_score(client)
    finally:
        server.stop(signal.SIGKILL)  # the save after the last flush is only in metadata now
    server = start(data, **ivf)  # loads the saved IVF index, then adds what metadata holds beyond it
    try:
        client = server.client(data)
        wait_idle(client)
        assert every_score(client) == with_later and client.rarity_of(later, "frame", 99).n == 500
    finally:
        assert server.stop() < STOP_S


def test_a_backlog_of_a_thousand_unscored_snapshots_delays_neither_start_nor_stop(tmp_path):
    data, count, frames = tmp_path / "data", 1000, 16
    first = first_run(data, saves=1, frames=frames)  # a saved index holding one snapshot
    with domain(data) as (meta, blobs):  # then a thousand saves that no rarity worker saw
        backlog = [commit(meta, blobs, "w1", synth_state(SPACE, frames=frames, players=1, seed=100 + i),
                          frames=frames, players=1).id for i in range(count)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        server = start(data)
        try:
            assert server.started_in < SERVE_S
            assert "later snapshots queued for scoring" in "".join(server.log)  # queued, not scored before serving
            client = server.client(data)
            assert client.rarity_of(first[0], "frame", 0).world == "w1"  # every score it had, at once
            assert client.rarity_stats("demo").pending > 0
        finally:
            stopped_in = server.stop(sig)
        if sig == signal.SIGTERM:
            assert stopped_in < STOP_S, f"SIGTERM took {stopped_in:.1f} s with a backlog queued"
            assert "the next start queues them again" in "".join(server.log)
    server = start(data)
    try:
        client = server.client(data)
        wait_idle(client)
        kinds = {k.kind: k for k in client.rarity_stats("demo").kinds}
        total = count + 1  # every committed snapshot, each once
        assert (kinds["frame"].snapshots, kinds["frame"].ids) == (total, total * frames)
        assert (kinds["player"].snapshots, kinds["player"].ids) == (total, count + 2)
        assert client.rarity_of(backlog[-1], "frame", frames - 1).n == kinds["frame"].points
    finally:
        assert server.stop() < STOP_S


class HeldBlobs:
    """A blob store whose state reads wait until ``gate`` is set (a slow disk, in effect)."""

    def __init__(self, inner) -> None:
        self.inner, self.gate, self.reading = inner, threading.Event(), threading.Event()

    def read_into(self, *args, **kwargs):
        self.reading.set()
        assert self.gate.wait(30)
        return self.inner.read_into(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_close_finishes_the_batch_in_hand_and_leaves_the_rest_to_the_next_start(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "BATCH_COUNT", 10)
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    app = App.open(settings)
    try:
        app.store.register_space(ADMIN, SPACE)
        app.store.create_world(ADMIN, "w1", "demo")
        state = synth_state(SPACE, frames=4, players=1, seed=1)
        first, _ = app.store.save(ADMIN, SaveRequest("w1", len(state), expected_parent=""), [state])
        assert app.rarity.wait_scored(first.id)
    finally:
        app.close()
    with domain(data) as (meta, blobs):
        backlog = [commit(meta, blobs, "w1", synth_state(SPACE, frames=4, players=1, seed=10 + i), frames=4,
                          players=1).id for i in range(30)]
    with open_metadata(settings.database_url) as meta:
        held = HeldBlobs(open_blob_store(settings.blobs_url))
        service = RarityService.open(meta, held, data / "rarity")
        assert service.pending == len(backlog) + 1  # and the checkpoint behind them: nothing scored in open
        assert held.reading.wait(10)  # the worker holds its first batch
        closing = threading.Thread(target=service.close)
        started = time.monotonic()
        closing.start()
        time.sleep(0.2)
        held.gate.set()  # the worker finishes the batch it holds (10 snapshots), then leaves the rest
        closing.join(10)
        assert not closing.is_alive() and time.monotonic() - started < 5
        saved = RarityEngine.load(held, meta.rarity_manifests()["demo"])
        assert [saved.has_snapshot(s) for s in [first.id, *backlog]] == [True] * 11 + [False] * 20
        again = RarityService.open(meta, held, data / "rarity")
        try:
            assert again.pending == 20 + 1
            assert all(again.wait_scored(s) for s in backlog) and again.wait_idle()
            assert again.engine("demo").stats()["frame"].ids == 4 * 31
        finally:
            again.close()
