"""Pack blobs are their put's own: a save that does not commit deletes its pack blob, and a crash between the put and
the commit is found in the journal at the next start and the blob deleted; a committed pack stays."""

from __future__ import annotations

import pytest
import torch

from multiverse.blobs.local import LocalBlobStore
from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.store import ChunkStore, Piece
from multiverse.errors import HeadMoved
from multiverse.metadata import open_metadata
from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest, Store

ADMIN = Principal("admin", "admin")
SPACE = SpaceRecord("oasis", (16, 18, 32), "float16", 8)


def state(seed: int, frames: int = 40) -> bytes:  # 1.5 MB of new chunks: over INLINE_MAX, a pack blob
    g = torch.Generator().manual_seed(seed)
    return encode_state(torch.randn((frames, 16, 18, 32), generator=g).to(torch.float16), torch.ones((1, 8)),
                        space="oasis", timeline=[],
                        players=[{"uuid": "00000000-0000-4000-8000-000000000001", "name": "p", "stats": {}}])


@pytest.fixture
def env(tmp_path):
    meta = open_metadata(f"sqlite:///{tmp_path / 'm.db'}")
    raw = LocalBlobStore(tmp_path / "blobs")
    journal = tmp_path / "journal"
    store = Store(meta, StateBlobs(raw, ChunkStore(meta, raw, journal=journal)), tmp_path / "spool")
    store.register_space(ADMIN, SPACE)
    store.create_world(ADMIN, "w", "oasis")
    yield store, raw, journal
    meta.close()


def save(store: Store, data: bytes, parent: str = "") -> str:
    return store.save(ADMIN, SaveRequest("w", len(data), expected_parent=parent), [data])[0].id


def test_a_save_that_does_not_commit_deletes_its_pack_blob(env):
    store, raw, journal = env
    first = save(store, state(1))
    kept = set(raw.digests())
    assert len(kept) == 1 and not list(journal.iterdir())  # the first save's pack, its journal entry settled
    with pytest.raises(HeadMoved):
        save(store, state(2), parent="")  # a stale parent: refused in the commit, after its pack went up
    assert set(raw.digests()) == kept and not list(journal.iterdir())
    assert store.meta.get_head("w", "main") == first


def test_recover_deletes_a_pack_blob_whose_row_never_committed(env):
    store, raw, journal = env
    save(store, state(1))
    kept = set(raw.digests())
    orphan, _ = store.chunks.put_pack([("a" * 64, Piece(b"x" * 1000))], [], 1000)  # then the process dies
    assert (journal / orphan).exists() and raw.exists(orphan)
    assert ChunkStore(store.meta, raw, journal=journal).recover() == 1  # the next start
    assert set(raw.digests()) == kept and not list(journal.iterdir())
    assert store.load("w", who=ADMIN).size == len(state(1))
