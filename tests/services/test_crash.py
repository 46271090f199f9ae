"""A server killed with SIGKILL in the middle of an upload loses nothing acknowledged and shows nothing partial."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from multiverse import errors
from multiverse.blobs import open_blob_store
from multiverse.chunks.cut import cut
from multiverse.client import Client
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.v1 import store_pb2, store_pb2_grpc

SPACE = SpaceRecord("demo", (16, 18, 32), "float16", 8)
ROOT = Path(__file__).resolve().parents[2]


def start(data: Path) -> tuple[subprocess.Popen, str]:
    """`multiverse up` on a free port; returns the process and its address once it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "multiverse.cli", "--data", str(data), "--grpc", "127.0.0.1:0", "up", "--no-demo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if match := re.match(r"gRPC\s+(\S+)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("multiverse up did not start:\n" + "".join(lines))


def test_sigkill_mid_upload_keeps_every_acknowledged_snapshot(tmp_path):
    data = tmp_path / "data"
    proc, address = start(data)
    try:
        token = (data / "admin.key").read_text().strip()
        admin = Client(address, token)
        admin.register_space("demo", SPACE.frame_shape, "float16", 8)
        admin.create_world("w1", "demo")
        saved = {}
        for seed in range(3):
            state = synth_state(SPACE, frames=60, players=2, seed=seed)
            saved[admin.save_snapshot("w1", state).snapshot.id] = state

        big = synth_state(SPACE, frames=1200, players=2, seed=99)  # ~22 MB, 22 chunks
        halfway = threading.Event()

        def slow_chunks():
            head = admin.heads("w1")["main"]
            yield store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world="w1", expected_parent=head, size=len(big)))
            for i in range(0, len(big), 1 << 20):
                yield store_pb2.SaveSnapshotRequest(chunk=big[i : i + (1 << 20)])
                if i >= 8 << 20:
                    halfway.set()
                    time.sleep(0.05)

        stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(address))
        outcome = {}

        def upload():
            try:
                stub.SaveSnapshot(slow_chunks(), metadata=(("authorization", f"Bearer {token}"),))
                outcome["result"] = "acknowledged"
            except grpc.RpcError as exc:
                outcome["result"] = exc.code()

        t = threading.Thread(target=upload)
        t.start()
        assert halfway.wait(30), "the upload never got halfway"
        spooled = list((data / "spool").iterdir())
        assert len(spooled) == 1, "the partial upload should sit in the spool while it streams"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        t.join(30)
        assert outcome["result"] == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.kill()
        proc.wait()

    proc, address = start(data)
    try:
        admin = Client(address, (data / "admin.key").read_text().strip())
        for snapshot_id, state in saved.items():
            snap, got = admin.load_snapshot(snapshot_id)
            assert got == state and snap.state_sha256 == cut(state)[0].state_id  # the manifest's sha256
        assert {s.id for s in admin.log("w1")} == set(saved)
        assert list((data / "spool").iterdir()) == [], "restart must drop the partial upload"
        blobs = open_blob_store(str(data / "blobs"))
        assert hashlib.sha256(big).hexdigest() not in set(blobs.digests())
        after = admin.save_snapshot("w1", synth_state(SPACE, frames=10, players=1, seed=7)).snapshot
        assert after.generation == 4 and admin.heads("w1") == {"main": after.id}
        with pytest.raises(errors.HeadMoved):
            admin.save_snapshot("w1", synth_state(SPACE, frames=10, players=1, seed=8), expected_parent=list(saved)[-1])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
