"""A crossed child is stored as chunks: what it takes whole from its parents costs nothing new.

The domain is built as App builds it (SQLite metadata, a blob directory, ``StateBlobs`` over a ``ChunkStore``) in
an Oasis-shaped space (frames 16x18x32 float16). "Stored anew" is measured as the bytes of the packs a cross adds
(``chunk_packs``), the only place a chunk's bytes go.
"""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
import torch

from multiverse.blobs import open_blob_store
from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.cut import cut
from multiverse.chunks.store import SALT, ChunkStore
from multiverse.config import Limits
from multiverse.crossing import Crossing, CrossSpec, pipeline_from
from multiverse.crossing.stored import cut_parts, state_id, store_state
from multiverse.metadata import open_metadata
from multiverse.metadata.models import chunk_packs, chunks
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import decode_state, encode_state, encode_state_parts, stored_header
from multiverse.store.store import SaveRequest, Store
from tests.crossing.conftest import ADMIN
from tests.crossing.lab import chunks as lab_chunks
from tests.crossing.lab import frames, player, vectors

OASIS = SpaceRecord("oasis", (16, 18, 32), "float16", 64, max_players=8)
T = 128  # frames per parent: 2.4 MB each, one 18 KiB chunk per frame


class Domain:
    def __init__(self, tmp_path) -> None:
        self.meta = open_metadata(f"sqlite:///{tmp_path / 'm.db'}")
        raw = open_blob_store(str(tmp_path / "blobs"))
        self.blobs = StateBlobs(raw, ChunkStore(self.meta, raw))
        self.store = Store(self.meta, self.blobs, tmp_path / "spool", Limits(max_state_bytes=64 << 20))
        self.crossing = Crossing.over(self.store)
        self.store.register_space(ADMIN, OASIS)

    def packed(self) -> int:
        """Bytes of every pack stored so far (all chunk data ever written)."""
        with self.meta.transaction() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(chunk_packs.c.size), 0))).scalar())

    def parent(self, world: str, data: bytes, space: SpaceRecord = OASIS) -> SnapshotRecord:
        """World ``world`` with ``data`` as its first state, saved as a game server saves (the store cuts it)."""
        self.store.create_world(ADMIN, world, space.name)
        return self.store.save(ADMIN, SaveRequest(world, len(data)), lab_chunks(data))[0]

    def cross(self, parents, op: str, params: dict, name: str):
        spec = CrossSpec(tuple(p.id for p in parents), pipeline_from(op, params, None), name=name)
        before = self.packed()
        done = self.crossing.cross(ADMIN, spec)
        return done, self.packed() - before


@pytest.fixture
def domain(tmp_path):
    d = Domain(tmp_path)
    yield d
    d.meta.close()


def oasis_state(seed: int, players=(1, 2)) -> bytes:
    return encode_state(frames(seed, T, OASIS.frame_shape), vectors(seed, len(players), OASIS.player_dim),
                        space=OASIS.name, players=[player(i) for i in players], timeline=[{"frame": 3, "text": f"s{seed}"}])


def test_cut_parts_is_the_cut_of_the_joined_file_without_copying_the_tensors():
    x, v = frames(1, 20, OASIS.frame_shape), vectors(1, 3, OASIS.player_dim).float()
    parts = encode_state_parts(x, v, space=OASIS.name, players=[player(i) for i in range(3)], timeline=[])
    manifest, pieces, kinds = cut_parts(parts)
    assert manifest == cut(b"".join(parts))[0]
    assert [k.need for k in kinds] == [""] + ["float16"] * 20 + ["float32"]  # what a save records them as
    assert all(p.obj is parts[1].obj for p in pieces[1:21])  # views of the frames tensor, not copies
    # pieces split anywhere (a chunk straddling two of them is joined) cut the same
    joined = b"".join(parts)
    head = stored_header(joined).data_start
    odd = [memoryview(joined)[:head], memoryview(joined)[head : head + 100], memoryview(joined)[head + 100 :]]
    assert cut_parts(odd)[0] == manifest and [bytes(p) for p in cut_parts(odd)[1]] == [bytes(p) for p in pieces]


def test_kpoint_child_of_two_stored_parents_stores_under_one_percent_anew(domain):
    a, b = domain.parent("a", oasis_state(1)), domain.parent("b", oasis_state(2, players=(3,)))
    plan, preview = domain.crossing.preview(ADMIN, CrossSpec((a.id, b.id), pipeline_from(
        "crossover_kpoint", {"k": 3}, None), name="kid"))
    done, new = domain.cross([a, b], "crossover_kpoint", {"k": 3}, "kid")
    child = done.snapshot
    assert new < 0.01 * child.state_size, f"{new} of {child.state_size} bytes stored anew"
    print(f"k-point child: {new} of {child.state_size} bytes new ({new / child.state_size:.4%})")
    # the child loads as the bytes the cross computed, under the id a client recomputes from them
    data = domain.blobs.read(child.state)
    assert data == preview.state and child.state == preview.digest == cut(data)[0].state_id
    # the same recipe crossed into another world is the same state: nothing stored anew
    again, new_again = domain.cross([a, b], "crossover_kpoint", {"k": 3}, "kid2")
    assert again.snapshot.state == child.state and new_again == 0


def test_mask_cross_stores_its_mixed_frames_and_a_time_mask_nothing_new(domain):
    a, b = domain.parent("a", oasis_state(1)), domain.parent("b", oasis_state(2))
    east, new = domain.cross([a, b], "crossover_mask", {"region": [[-1, 0.5, 1.0]]}, "east")
    size = east.snapshot.state_size
    frame_bytes = T * 16 * 18 * 32 * 2
    print(f"spatial mask child: {new} of {size} bytes new ({new / size:.2%})")
    assert frame_bytes <= new <= size + SALT  # every frame mixes both parents: its chunks are new, stored once
    assert domain.blobs.read(east.snapshot.state) == domain.crossing.preview(ADMIN, CrossSpec(
        (a.id, b.id), pipeline_from("crossover_mask", {"region": [[-1, 0.5, 1.0]]}, None), name="x"))[1].state
    later, new = domain.cross([a, b], "crossover_mask", {"region": [[0, 0.5, 1.0]]}, "later")
    assert new < 0.01 * later.snapshot.state_size  # whole frames from each parent


def test_a_blob_store_without_chunks_gets_the_child_whole(tmp_path):
    raw = open_blob_store(str(tmp_path / "blobs"))
    parts = encode_state_parts(frames(3, 4, OASIS.frame_shape), torch.zeros(0, 64, dtype=torch.float16),
                               space=OASIS.name, players=[], timeline=[])
    digest, written = store_state(raw, parts)
    data = b"".join(parts)
    assert digest == state_id(raw, parts) == hashlib.sha256(data).hexdigest() and written == len(data)
    assert raw.read(digest) == data


def test_a_token_child_records_its_new_chunks_as_checked_against_the_vocabulary(domain):
    tokens = SpaceRecord("tokens", (16, 18, 32), "int32", 8, max_players=8, vocab_size=1000)
    domain.store.register_space(ADMIN, tokens)
    made = []
    for world, seed in (("ta", 1), ("tb", 2)):
        x = torch.randint(0, 1000, (T, 16, 18, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.int32)
        data = encode_state(x, torch.zeros(0, 8, dtype=torch.float16), space="tokens", players=[], timeline=[])
        made.append(domain.parent(world, data, space=tokens))
    with domain.meta.transaction() as conn:
        before = set(conn.execute(sa.select(chunks.c.address)).scalars())
    done, new = domain.cross(made, "crossover_uniform", {"p": 0.5}, "mixed")
    assert new > T * 16 * 18 * 32 * 4  # every frame is new (an element-wise choice), and the header
    with domain.meta.transaction() as conn:
        added = dict(conn.execute(sa.select(chunks.c.address, chunks.c.checked)).all())
    added = {a: c for a, c in added.items() if a not in before}
    assert sorted(set(added.values())) == ["", "int32/1000"]  # header bytes; token ids scanned against the vocabulary
    tensors, _ = decode_state(domain.blobs.read(done.snapshot.state))
    assert tensors["frames"].shape == (T, 16, 18, 32) and 0 <= int(tensors["frames"].min()) <= int(
        tensors["frames"].max()) < 1000
