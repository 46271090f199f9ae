"""Two `serve --services store,multiverse` replicas on one PostgreSQL and one blob directory, behind one balanced
client: saves land on both; SIGKILL of one in the middle of a stream of saves (and of a save streaming into it)
leaves the client carrying on against the other, and every acknowledged save loads back byte-identical, stored
once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import grpc
import pytest

from multiverse.client import Client
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.v1 import store_pb2, store_pb2_grpc
from tests.serve.procs import ROOT, serve

pytestmark = pytest.mark.postgres
SPACE = SpaceRecord("demo", (16, 18, 32), "float16", 8)
SAVES = ("SaveChunks", "SaveChunksAtOnce", "SaveSnapshot")


@pytest.fixture
def replicas(tmp_path, postgres_url):
    from tests.support.postgres import create_schema

    shared = ("--db", create_schema(postgres_url), "--blobs", str(tmp_path / "blobs"))
    a = serve(tmp_path / "a", "store,multiverse", *shared)  # first: migrates and mints the admin key
    b = serve(tmp_path / "b", "store,multiverse", *shared)
    yield a, b
    for proc in (a, b):
        proc.kill()


def _saves(proc) -> int:
    return sum(proc.calls(m) for m in SAVES)


def _half_sent(world: str, state: bytes, halfway: threading.Event, hold: threading.Event):
    """A whole-file save's messages that stop halfway until ``hold`` is set."""
    yield store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world=world, size=len(state)))
    for i in range(0, len(state), 1 << 20):
        if i >= len(state) // 2 and not halfway.is_set():
            halfway.set()
            hold.wait(30)
        yield store_pb2.SaveSnapshotRequest(chunk=state[i : i + (1 << 20)])


def test_balanced_saves_survive_sigkill_of_a_replica(replicas):
    a, b = replicas
    key = (a.data / "admin.key").read_text().strip()
    both = f"{a.address},{b.address}"
    out = subprocess.run([sys.executable, "-m", "multiverse.cli", "--grpc", both, "--key", key, "whoami"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '"admin"' in out.stdout, out.stderr  # the CLI takes the list too

    mv = Client(both, key)
    mv.register_space("demo", SPACE.frame_shape, "float16", 8)
    for world in ("w", "cut"):
        mv.create_world(world, "demo")
    acked: dict[str, bytes] = {}
    failed: list[BaseException] = []
    stop, seed = threading.Event(), iter(range(10_000))

    def saving() -> None:  # one game server saving back to back (~3 MB states), as the client is told to
        try:
            while not stop.is_set():
                state = synth_state(SPACE, frames=160, players=2, seed=next(seed))
                acked[mv.save_snapshot("w", state).snapshot.id] = state
        except BaseException as exc:  # noqa: BLE001 - the test fails on it below
            failed.append(exc)

    saver = threading.Thread(target=saving)
    saver.start()
    deadline = time.monotonic() + 60
    while (_saves(a) < 3 or _saves(b) < 3) and time.monotonic() < deadline and not failed:
        time.sleep(0.05)
    assert _saves(a) >= 3 and _saves(b) >= 3, ("saves should land on both replicas", _saves(a), _saves(b), failed)

    # a save streaming into b, halfway, when b is killed: it fails for its client and leaves nothing
    halfway, hold = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def cut_short() -> None:
        stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(b.address))
        state = synth_state(SPACE, frames=300, players=2, seed=99_999)
        try:
            stub.SaveSnapshot(_half_sent("cut", state, halfway, hold), metadata=(("authorization", f"Bearer {key}"),))
            outcome["cut"] = "acknowledged"
        except grpc.RpcError as exc:
            outcome["cut"] = exc.code()

    cutter = threading.Thread(target=cut_short)
    cutter.start()
    assert halfway.wait(30)
    time.sleep(0.2)  # the half sent is in b
    started = _saves(b)
    while _saves(b) == started and time.monotonic() < deadline:
        time.sleep(0.002)  # the game server's next save has just reached b: most likely still in it
    before = len(acked)
    b.kill()  # SIGKILL, in the middle of the game server's stream of saves too
    hold.set()
    cutter.join(30)
    while len(acked) < before + 5 and time.monotonic() < deadline + 60 and not failed:
        time.sleep(0.05)  # the client carries on, against a alone
    stop.set()
    saver.join(60)
    assert not failed, f"the balanced client failed: {failed[0]!r}"
    assert len(acked) >= before + 5
    assert outcome["cut"] == grpc.StatusCode.UNAVAILABLE
    # the save b was streaming when killed failed there and was retried on a, with the same idempotency key
    assert _saves(a) + _saves(b) > len(acked) + 1, ("no save was cut short and retried", _saves(a), _saves(b))

    assert mv.heads("cut") == {}, "the save cut short must leave nothing"
    stored = [s.id for s in mv.log("w")]
    assert sorted(stored) == sorted(acked) and len(stored) == len(set(stored)), "each acknowledged save stored once"
    for snapshot_id, state in acked.items():
        assert mv.load_snapshot(snapshot_id)[1] == state
    mv.close()
    code, _ = a.terminate()
    assert code == 0, a.log[-20:]
