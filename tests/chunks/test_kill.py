"""kill -9 of a server in the middle of a chunked save (a SaveChunks stream paused half-way): nothing of it is
visible after the restart, and the next save works and sends only what the server lacks."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import sqlalchemy as sa
import torch

from multiverse.chunks.cut import cut
from multiverse.client import Client
from multiverse.metadata import open_metadata
from multiverse.metadata.models import chunked_states, chunks
from multiverse.state.format import encode_state
from multiverse.v1 import store_pb2, store_pb2_grpc
from tests.services.test_crash import start

SHAPE = (16, 18, 32)


def window(start_frame: int, frames: int = 96) -> bytes:
    g = torch.Generator().manual_seed(5)
    stream = torch.randn((start_frame + frames, *SHAPE), generator=g).to(torch.float16)
    return encode_state(stream[start_frame:], torch.zeros((1, 8)), space="oasis", timeline=[],
                        players=[{"uuid": "00000000-0000-4000-8000-000000000001", "name": "p", "stats": {}}])


def test_sigkill_mid_chunked_save_leaves_nothing_visible(tmp_path):
    data = tmp_path / "data"
    proc, address = start(data)
    try:
        token = (data / "admin.key").read_text().strip()
        admin = Client(address, token)
        admin.register_space("oasis", SHAPE, "float16", 8)
        admin.create_world("w", "oasis")
        head = admin.save_snapshot("w", window(0)).snapshot.id
        nxt = window(48)  # 48 new frames
        m, pieces = cut(nxt)
        stored = set(cut(window(0))[0].addresses)
        missing = [i for i, a in enumerate(m.addresses) if a not in stored]  # frames 96..143
        assert len(missing) == 48
        halfway = threading.Event()

        def paused():
            yield store_pb2.SaveChunksRequest(header=store_pb2.SaveHeader(world="w", expected_parent=head,
                                                                          size=len(nxt)))
            yield store_pb2.SaveChunksRequest(manifest=store_pb2.ChunkManifest(
                size=m.size, addresses=b"".join(bytes.fromhex(a) for a in m.addresses), lengths=m.lengths))
            for n, i in enumerate(missing):
                yield store_pb2.SaveChunksRequest(chunk=store_pb2.SaveChunk(index=i, data=bytes(pieces[i])))
                if n == len(missing) // 2:
                    halfway.set()
                    time.sleep(30)  # the server dies meanwhile

        outcome = {}

        def upload():
            stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(address))
            try:
                stub.SaveChunks(paused(), metadata=(("authorization", f"Bearer {token}"),))
                outcome["result"] = "acknowledged"
            except grpc.RpcError as exc:
                outcome["result"] = exc.code()

        t = threading.Thread(target=upload, daemon=True)
        t.start()
        assert halfway.wait(30), "the save never got halfway"
        time.sleep(0.3)  # the server has read what was sent
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        t.join(40)
        assert outcome["result"] == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.kill()
        proc.wait()

    meta = open_metadata(f"sqlite:///{data / 'multiverse.db'}")
    try:
        with meta.transaction() as conn:
            names = set(conn.execute(sa.select(chunks.c.address)).scalars())
            states = set(conn.execute(sa.select(chunked_states.c.id)).scalars())
    finally:
        meta.close()
    assert not names & {m.addresses[i] for i in missing} and m.state_id not in states  # nothing of the killed save

    proc, address = start(data)
    try:
        admin = Client(address, (data / "admin.key").read_text().strip())
        assert admin.heads("w") == {"main": head}
        reply = admin.save_snapshot("w", nxt)
        assert admin.last_save.chunks_sent == 48 and reply.snapshot.state_sha256 == m.state_id
        assert admin.load_snapshot("w")[1] == nxt
        assert list((data / "spool").iterdir()) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
