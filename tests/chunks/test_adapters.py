"""ChunkStore and StateBlobs over both blob adapters (tests/blobs' ``backend``: a directory and SeaweedFS S3):
inline packs moved into pack blobs, ranged reads of chunked states, damage found, states stored whole read as they are."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
import torch

from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.cut import cut
from multiverse.chunks.flush import Flusher
from multiverse.chunks.store import SALT, ChunkStore, Piece
from multiverse.errors import Corrupt, FailedPrecondition
from multiverse.metadata import open_metadata
from multiverse.metadata.models import chunk_packs
from multiverse.state.format import encode_state, stored_header
from multiverse.state.read import read_row, read_state
from tests.blobs.conftest import backend, s3_backend, s3_bucket  # noqa: F401 - fixtures


def state(start: int, frames: int = 48) -> bytes:
    g = torch.Generator().manual_seed(3)
    stream = torch.randn((start + frames, 16, 18, 32), generator=g).to(torch.float16)
    return encode_state(stream[start:], torch.ones((2, 8)), space="oasis", timeline=[],
                        players=[{"uuid": f"00000000-0000-4000-8000-00000000000{i}", "name": f"p{i}", "stats": {}}
                                 for i in range(2)])


@pytest.fixture
def chunked(backend, tmp_path):  # noqa: F811
    meta = open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    yield backend, StateBlobs(backend.store, ChunkStore(meta, backend.store))
    meta.close()


def put(blobs: StateBlobs, data: bytes) -> str:
    m, pieces = cut(data)
    return blobs.chunks.put_state(data, pieces, m, ["float16"] * len(pieces))


def inline_packs(blobs: StateBlobs) -> dict[str, int]:
    with blobs.chunks.meta.transaction() as conn:
        return dict(conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.size)
                                 .where(chunk_packs.c.data.is_not(None))).all())


def check_reads(blobs: StateBlobs, first: str, second: str) -> None:
    for digest, data in ((first, state(0)), (second, state(8))):
        assert blobs.read(digest) == data and blobs.size(digest) == len(data)
        assert b"".join(blobs.open_chunks(digest, 7000, offset=100)) == data[100:]
        assert blobs.read_range(digest, 18000, 50000) == data[18000:68000]
        buf = bytearray(len(data))
        assert blobs.read_into(digest, buf) == len(data) and bytes(buf) == data


def test_a_window_is_a_pack_blob_then_one_inline_pack_per_save_and_reads_back_whole_and_in_ranges(chunked):
    backend, blobs = chunked
    first = put(blobs, state(0))
    packs = set(backend.store.digests())  # 48 frames: 1.7 MB of new chunks, over INLINE_MAX: a pack blob
    assert len(packs) == 1 and inline_packs(blobs) == {}
    assert backend.store.size(next(iter(packs))) == SALT + len(state(0))  # every chunk of the first state, once
    second = put(blobs, state(8))
    assert set(backend.store.digests()) == packs
    # one inline pack: the 8 new frames (header and players unchanged)
    assert list(inline_packs(blobs).values()) == [8 * 16 * 18 * 32 * 2]
    check_reads(blobs, first, second)
    third = put(blobs, state(16))
    assert len(inline_packs(blobs)) == 2 and set(backend.store.digests()) == packs
    total = sum(inline_packs(blobs).values())
    assert Flusher(blobs.chunks).flush() == total and inline_packs(blobs) == {}
    moved = set(backend.store.digests()) - packs
    assert len(moved) == 1  # both saves' inline packs gathered into one pack blob: one object, not one per save
    assert backend.store.size(moved.pop()) == SALT + 16 * 16 * 18 * 32 * 2
    check_reads(blobs, first, second)
    assert blobs.read(third) == state(16)
    tensors, info = read_state(blobs, second, len(state(8)))
    assert info.frame_count == 48 and tensors["players"].sum() == 16
    header = stored_header(state(8))
    at = header.data_start + 47 * 16 * 18 * 32 * 2
    assert read_row(blobs, second, header, "frames", 47).raw == state(8)[at : at + 16 * 18 * 32 * 2]


def test_a_whole_blob_reads_as_it_is_and_damage_is_found(chunked):
    backend, blobs = chunked
    data = state(0)
    whole = backend.store.put_bytes(data)  # stored before chunking
    assert whole == hashlib.sha256(data).hexdigest() and blobs.read(whole) == data
    assert blobs.chunks.manifest(whole) is None
    chunked_id = put(blobs, state(8))
    Flusher(blobs.chunks).flush()
    m = blobs.chunks.manifest(chunked_id)
    loc = blobs.chunks.locate([m.addresses[5]])[m.addresses[5]]
    raw = bytearray(backend.store.read(loc.pack, verify=False))
    raw[loc.offset] ^= 0xFF
    backend.tamper(loc.pack, bytes(raw))
    with pytest.raises(Corrupt):
        blobs.read(chunked_id)


def test_a_manifest_naming_a_chunk_not_stored_is_refused(chunked):
    _, blobs = chunked
    m, pieces = cut(state(0))
    with pytest.raises(FailedPrecondition) as e:
        blobs.chunks.put(m, {m.addresses[0]: Piece(pieces[0])})
    assert e.value.details["field"] == "chunks[1]"
    assert blobs.chunks.manifest(m.state_id) is None
