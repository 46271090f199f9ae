"""The chunk tests' embedded stack with the space "oasis" (18 KiB float16 frames: one chunk each), a sliding window
of its states, and raw SaveChunks messages."""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa
import torch

from multiverse.chunks.cut import cut
from multiverse.metadata.models import chunked_states, chunks
from multiverse.state.format import encode_state
from multiverse.v1 import store_pb2, store_pb2_grpc
from tests.services.conftest import stack  # noqa: F401 - the fixture

OASIS = (16, 18, 32)  # 18 KiB float16 frames: one chunk each


def window(start: int, frames: int = 64, seed: int = 0) -> bytes:
    """Frames ``start..start+frames`` of one endless seeded stream, as a state of the space "oasis"."""
    g = torch.Generator().manual_seed(seed)
    stream = torch.randn((start + frames, *OASIS), generator=g).to(torch.float16)
    people = [{"uuid": "00000000-0000-4000-8000-000000000001", "name": "p", "stats": {"Health": 20.0}}]
    return encode_state(stream[start:], torch.zeros((1, 8)), space="oasis", players=people,
                        timeline=[{"frame": 0, "text": f"window at {start}"}])


@pytest.fixture
def oasis(stack):  # noqa: F811
    stack.admin.register_space("oasis", OASIS, "float16", 8, max_players=8)
    stack.admin.create_world("w", "oasis", owner="alpha")
    return stack


def visible(stack) -> tuple:
    """What a refused save must not change: heads, chunk rows, manifests, blobs."""
    with stack.app.meta.transaction() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(chunks)).scalar()
        states = conn.execute(sa.select(sa.func.count()).select_from(chunked_states)).scalar()
    return stack.admin.heads("w"), rows, states, sorted(stack.app.blobs.digests())


def raw_save(stack, messages, key=None):
    stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(stack.address))
    token = key or stack.app.settings.data_dir.joinpath("admin.key").read_text().strip()
    return stub.SaveChunks(iter(messages), metadata=(("authorization", f"Bearer {token}"),))


def offer(data: bytes, expected: str, send: list[int], *, tamper: int | None = None, world: str = "w",
          batch: bool = False):
    m, pieces = cut(data)
    out = [store_pb2.SaveChunksRequest(header=store_pb2.SaveHeader(world=world, expected_parent=expected,
                                                                   size=len(data), idempotency_key="k" + expected[:8])),
           store_pb2.SaveChunksRequest(manifest=store_pb2.ChunkManifest(
               size=m.size, addresses=b"".join(bytes.fromhex(a) for a in m.addresses), lengths=m.lengths))]
    chunks = []
    for i in send:
        piece = bytearray(pieces[i])
        if i == tamper:
            piece[-1] ^= 1
        chunks.append(store_pb2.SaveChunk(index=i, data=bytes(piece)))
    if batch:
        return out + [store_pb2.SaveChunksRequest(batch=store_pb2.SaveChunkBatch(chunks=chunks))]
    return out + [store_pb2.SaveChunksRequest(chunk=c) for c in chunks]
