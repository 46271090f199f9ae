"""Frames whose chunks the rarity index has scored are neither read nor embedded again (issue 17, point 3), over a
real store (SQLite, a blob directory, chunked saves) and the real worker: a 512-frame Oasis window sliding by 8
embeds and reads only its 8 new frames; over 40 saves (aligned and misaligned slides, repeats, a second world,
short windows) scores, saved index contents and registry keys are those of the engine reading every state whole;
a state stored whole before chunking scores as before."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from multiverse.blobs import open_blob_store
from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.store import ChunkStore
from multiverse.metadata import open_metadata
from multiverse.rarity.chunked import ChunkReader
from multiverse.rarity.embed import Embedder
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.service import RarityService
from multiverse.rarity.sync import committed, snapshot_vectors
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import encode_state
from multiverse.store.store import SaveRequest, Store
from tests.market.world import ADMIN, ALPHA

OASIS = SpaceRecord("oasis", (16, 18, 32), "float16", 8, max_players=8)  # 18 KiB frames: one chunk each
SMALL = SpaceRecord("small", (4, 8, 16), "float16", 8, max_players=8)  # 1 KiB frames: four to a chunk
PEOPLE = [{"uuid": f"00000000-0000-4000-8000-00000000000{i}", "name": f"p{i}", "stats": {}} for i in range(2)]


class CountingChunks(ChunkStore):
    """A real chunk store that counts the state bytes read out of it (inline packs and pack blobs alike)."""

    read_bytes = 0

    def _read_pack(self, pack: str, offset: int, length: int) -> bytes | None:
        raw = super()._read_pack(pack, offset, length)
        self.read_bytes += len(raw or b"")
        return raw


@pytest.fixture
def store(tmp_path: Path):
    meta = open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    inner = open_blob_store(str(tmp_path / "blobs"))
    store = Store(meta, StateBlobs(inner, CountingChunks(meta, inner)), tmp_path / "spool")
    for space in (OASIS, SMALL):
        store.register_space(ADMIN, space)
    for world, space in (("w", OASIS.name), ("s", SMALL.name), ("t", SMALL.name)):
        store.create_world(ADMIN, world, space, owner="alpha")
    yield store
    meta.close()


@pytest.fixture
def embedded(monkeypatch) -> list[int]:
    """The number of frames each call of the (real) embedder embeds."""
    calls: list[int] = []
    real = Embedder.embed

    def embed(self, vectors, field="vectors"):
        if field == "frames":
            calls.append(len(vectors))
        return real(self, vectors, field)

    monkeypatch.setattr(Embedder, "embed", embed)
    return calls


def stream(space: SpaceRecord, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn((n, *space.frame_shape), generator=g).to(torch.float16)
    if n > 210:
        frames[200:210] = frames[40:50]  # a run of frames seen before, at another place
    return frames


def state(space: SpaceRecord, frames: torch.Tensor, players: torch.Tensor | None = None, text: str = "",
          texts: int = 1) -> bytes:
    """A state of ``frames``; ``texts`` guidance texts of ``text`` (80 of 4,000 characters: a header of several
    chunks, cut by content)."""
    players = torch.zeros((1, 8), dtype=torch.float16) if players is None else players
    return encode_state(frames, players, space=space.name, players=PEOPLE[: len(players)],
                        timeline=[{"frame": i, "text": text} for i in range(texts)] if text else [])


def save(store: Store, world: str, data: bytes) -> SnapshotRecord:
    head = store.heads(world).get("main", "")
    parts = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    return store.save(ALPHA, SaveRequest(world, len(data), expected_parent=head), parts)[0]


def test_a_sliding_window_embeds_and_reads_only_its_new_frames(store, embedded, tmp_path):
    frames = stream(OASIS, 512 + 3 * 8)  # frames 200..209 repeat 40..49: 526 distinct
    rarity = RarityService.open(store.meta, store.blobs, tmp_path / "rarity")
    store.meta.commits.subscribe(rarity.snapshot_saved)
    try:
        first = save(store, "w", state(OASIS, frames[:512]))
        assert rarity.wait_scored(first.id, timeout=60) and embedded == [502]  # read whole; a repeated chunk once
        frame_bytes = 16 * 18 * 32 * 2
        for start in (8, 16, 24):
            embedded.clear()
            store.chunks.read_bytes = 0
            record = save(store, "w", state(OASIS, frames[start : start + 512]))
            assert rarity.wait_scored(record.id, timeout=60)
            assert embedded == [8]  # the 8 new frames, in one product
            assert store.chunks.read_bytes == 8 * frame_bytes + 8 * 2  # and the player row (float16 x 8)
        engine = rarity.engine("oasis")
        assert engine.stats()["frame"].ids == 4 * 512 and engine.stats()["frame"].points == 526
        # the last save's ids point at the rows its frames had in the saves before it
        again = engine.rarity_of((record.id, "frame", 0))
        assert again.index_version == engine.versions()["frame"]["index_version"]
        assert engine.neighbors((record.id, "frame", 0), k=1)[0].distance > 0  # its own row is no neighbour
    finally:
        rarity.close()


def _saves(store: Store) -> list[SnapshotRecord]:
    """40 saves of two worlds of SMALL: windows of 96 frames sliding by 8 (chunk-aligned), 3 (not), 0 (the same
    state again), a window jumping back onto frames seen before, short windows (under the 64 frames the memory
    serves), a world sharing the other's frames, two long headers; player vectors change at every save."""
    frames, g = stream(SMALL, 600, seed=3), torch.Generator().manual_seed(9)
    start, out = 0, []
    slides = [8, 3, 0, 8, 4, 5, 8, 8, -40, 8, 1, 8, 16, 8, 2, 8, 12, 8, 8, 3]
    for i in range(40):
        world = "t" if i % 5 == 4 else "s"
        begin = start + 6 if world == "t" else start
        length = 10 if i % 13 == 6 else 1 if i == 33 else 96
        players = torch.randn((2, 8), generator=g).to(torch.float16)
        long = i in (21, 22)
        text = f"save {i} " + "x" * 4000 if long else f"save {i}"
        out.append(save(store, world, state(SMALL, frames[begin : begin + length], players, text[:4000],
                                            texts=80 if long else 1)))
        start = max(0, start + slides[i % len(slides)])
    return out


def _score(engine: RarityEngine, store: Store, records: list[SnapshotRecord], reader: ChunkReader | None):
    """What the worker does with one batch: read each snapshot, add them together."""
    items = []
    if reader:
        reader.new_batch()
    for r in records:
        frames, players = reader.read(r) if reader else snapshot_vectors(store.blobs, r, SMALL)
        items.append((r.id, r.world, frames, players))
    return engine.add_snapshots(items)


def test_scores_index_and_ids_are_those_of_whole_reads_over_40_saves(store, embedded, tmp_path):
    records = _saves(store)
    assert [r.id for r in committed(store.meta, "small")] == [r.id for r in records]
    reused, whole = RarityEngine.for_space(SMALL), RarityEngine.for_space(SMALL)
    reader = ChunkReader(store.blobs, SMALL, reused)
    sizes, at, rows = [1, 3, 1, 6, 2, 1, 1, 5, 4, 1, 2, 9, 4], 0, {"reused": 0, "whole": 0}
    for n, size in enumerate(sizes):
        batch = records[at : at + size]
        at += size
        if n == 6:  # the snapshot reaching furthest taken out: its newest frames die, and the memory forgets
            assert at == 15 and len(reused.population("frame").chunk_rows) > 0
            assert reused.remove_snapshot(records[8].id) == whole.remove_snapshot(records[8].id) > 0
            assert len(reused.population("frame").chunk_rows) == 0
        for name, engine, r in (("reused", reused, reader), ("whole", whole, None)):
            embedded.clear()
            got = _score(engine, store, batch, r)
            rows[name] += sum(embedded)
            if name == "reused":
                first = got
        assert first == got  # every score, every new-point count, every index version
    assert at == len(records)
    assert rows["reused"] < rows["whole"] / 2  # it did reuse (misaligned slides and the other world cost fresh chunks)
    out = open_blob_store(str(tmp_path / "out"))
    assert reused.save(out) == whole.save(out)  # index, lists, hashes, ids and names, calibration: the same bytes
    for kind in ("frame", "player"):
        a, b = reused.population(kind), whole.population(kind)
        assert a.registry.arrays().keys() == b.registry.arrays().keys()
        for name, array in a.registry.arrays().items():
            assert (array == b.registry.arrays()[name]).all(), name
        assert a.registry.names() == b.registry.names()
    assert reused.top_rare("frame", limit=500) == whole.top_rare("frame", limit=500)

    # a rebuild (one snapshot at a time, linked at the end) with the memory is the rebuild without it
    rebuilt = {}
    for name in ("reused", "whole"):
        engine = RarityEngine.for_space(SMALL)
        reader = ChunkReader(store.blobs, SMALL, engine) if name == "reused" else None
        with engine.bulk():
            for r in records:
                if reader:
                    reader.new_batch()
                frames, players = reader.read(r) if reader else snapshot_vectors(store.blobs, r, SMALL)
                engine.add_snapshot(r.id, r.world, frames=frames, players=players)
        rebuilt[name] = engine.save(out)
    assert rebuilt["reused"] == rebuilt["whole"]


def test_a_state_stored_whole_before_chunking_scores_as_before(store, embedded, tmp_path):
    """Written as the code before chunking did (the blob store's put, a record naming its sha256), then two chunked
    saves sliding from it: they score as an engine reading every state whole scores them (the service rebuilds
    the new space from the stored one, then adds the others one by one)."""
    frames = stream(OASIS, 64 + 16, seed=5)
    data = state(OASIS, frames[:64])
    digest = store.blobs.inner.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest() and store.chunks.manifest(digest) is None
    old = SnapshotRecord(id="", world="w", parents=(), state=digest, state_size=len(data), frame_count=64,
                         player_count=1, generation=1, created_at=1.0,
                         provenance={"kind": "save", "by": "alpha", "head": "main"}).sealed()
    store.meta.commit_snapshot(old, head="main", expected=None)
    rarity = RarityService.open(store.meta, store.blobs, tmp_path / "rarity")
    store.meta.commits.subscribe(rarity.snapshot_saved)
    try:
        assert rarity.wait_scored(old.id, timeout=60) and embedded == [64]
        records = [old]
        for start in (8, 16):
            embedded.clear()
            records.append(save(store, "w", state(OASIS, frames[start : start + 64])))
            assert rarity.wait_scored(records[-1].id, timeout=60)
        assert embedded == [8]  # the second chunked save shares 56 chunks with the first (none with the whole one)
        assert rarity.wait_idle(30)
        reference = RarityEngine.for_space(OASIS)
        with reference.bulk():
            f, p = snapshot_vectors(store.blobs, old, OASIS)
            reference.add_snapshot(old.id, "w", frames=f, players=p)
        for r in records[1:]:
            reference.add_snapshots([(r.id, r.world, *snapshot_vectors(store.blobs, r, OASIS))])
        engine = rarity.engine("oasis")
        for r in records:
            for i in (0, 7, 40, 63):
                assert engine.rarity_of((r.id, "frame", i)) == reference.rarity_of((r.id, "frame", i))
        out = open_blob_store(str(tmp_path / "out"))
        assert engine.save(out) == reference.save(out)
    finally:
        rarity.close()


def test_a_chunk_forgotten_between_read_and_add_is_retried_never_scored_wrong(store):
    records = [save(store, "s", state(SMALL, stream(SMALL, 104)[start : start + 96])) for start in (0, 8)]
    engine = RarityEngine.for_space(SMALL)
    reader = ChunkReader(store.blobs, SMALL, engine)
    _score(engine, store, records[:1], reader)
    reader.new_batch()
    frames, players = reader.read(records[1])
    assert len(frames.fresh) == 2 and len(frames.keys) == 24  # 8 new frames: two chunks of four
    engine.population("frame").chunk_rows.clear()  # a removal meanwhile
    results, failed = engine.add_snapshots([(records[1].id, "s", frames, players)])
    assert not results and failed[records[1].id].retriable  # the worker reads it again later
    assert not engine.has_snapshot(records[1].id)
    got, failed = _score(engine, store, records[1:], reader)  # read again: all of it now
    assert not failed and got[records[1].id]["frame"].new_points == 8


def test_a_snapshot_queued_twice_into_one_batch_is_added_once(store, tmp_path):
    """The follower's catch-up and a retry from just before a stuck snapshot can both queue one snapshot; when
    both copies land in one batch it is added to the index once (as it is when they land in two)."""
    from multiverse.rarity.worker import Fetched

    frames = stream(OASIS, 40)
    rarity = RarityService.open(store.meta, store.blobs, tmp_path / "rarity")
    try:
        first = save(store, "w", state(OASIS, frames[:16]))
        assert rarity.wait_scored(first.id, timeout=60)
        with rarity._lock:  # the follower cannot queue, and the worker cannot score, until it is let go
            again = save(store, "w", state(OASIS, frames[16:40]))
            epoch = rarity._epochs["oasis"]
            rarity._enqueue(Fetched(first, "oasis", epoch))  # scored already: the worker takes it and waits
            time.sleep(0.3)
            rarity._enqueue(Fetched(again, "oasis", epoch))
            rarity._enqueue(Fetched(again, "oasis", epoch))  # both behind it: gathered into one batch
        assert rarity.wait_scored(again.id, timeout=60) and rarity.wait_idle(timeout=60)
        engine = rarity.engine("oasis")
        assert engine.stats()["frame"].ids == 16 + 24 and engine.stats()["frame"].points == 40
        once = RarityEngine.for_space(OASIS)  # each snapshot added once, in a batch of its own
        for r in (first, again):
            frames_, players = snapshot_vectors(store.blobs, r, OASIS)
            once.add_snapshots([(r.id, r.world, frames_, players)])
        out = open_blob_store(str(tmp_path / "out"))
        assert engine.save(out) == once.save(out)  # the same index, lists, scores and calibration
    finally:
        rarity.close()
