"""Chunked saves over real gRPC (tests/services' embedded stack): only what is missing goes on the wire, a lie or
a missing chunk changes nothing, states stored whole before chunking load as they are, older servers get the whole
file."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest
import sqlalchemy as sa
import torch

from multiverse import errors
from multiverse.chunks.cut import Manifest, address, cut
from multiverse.chunks.store import Piece
from multiverse.metadata.models import chunked_states, chunks
from multiverse.records import SnapshotRecord
from multiverse.state.format import encode_state, stored_header
from multiverse.state.read import read_row, read_state
from multiverse.v1 import store_pb2
from tests.chunks.conftest import OASIS, offer, raw_save, visible, window

def test_a_sliding_window_sends_only_its_new_frames_and_loads_byte_identical(oasis):
    mv = oasis.server
    first = mv.save_snapshot("w", window(0))
    assert mv.last_save.mode == "chunks" and mv.last_save.chunks_sent == mv.last_save.chunks == 66
    frame = 16 * 18 * 32 * 2
    for step in range(1, 4):
        data = window(8 * step)
        reply = mv.save_snapshot("w", data)
        s = mv.last_save
        # 8 frames and the header (the players' row is unchanged), sent outright: under ASK_OVER, nothing is asked
        assert s.chunks_sent == 9 and s.asked == 0
        assert 8 * frame < s.bytes_sent < 8 * frame + 8 << 10  # the frames, the manifest and the questions
        assert reply.snapshot.state_sha256 == cut(data)[0].state_id
        assert oasis.admin.load_snapshot(reply.snapshot.id)[1] == data
    assert first.snapshot.generation == 1 and reply.snapshot.generation == 4


def test_a_save_on_its_head_looks_up_and_fences_only_what_the_head_lacks_and_a_chunk_lost_under_it_changes_nothing(
        oasis, monkeypatch):
    import threading

    import multiverse.chunks.fence as fence
    import multiverse.store.chunked as saves

    store, inside, asked, fenced = oasis.app.store.chunks, threading.local(), [], []
    real_locate, real_located, real_hold = type(store).locate, saves.located, fence.hold

    def locate(self, addresses, **kw):
        if getattr(inside, "save", False):
            asked.append(len(addresses))
        return real_locate(self, addresses, **kw)

    def located(*args, **kw):
        inside.save = True
        try:
            return real_located(*args, **kw)
        finally:
            inside.save = False

    def hold(conn, present, *args):
        fenced.append(len(present))
        return real_hold(conn, present, *args)

    monkeypatch.setattr(type(store), "locate", locate)
    monkeypatch.setattr(saves, "located", located)
    monkeypatch.setattr(fence, "hold", hold)
    mv = oasis.server
    assert mv.save_snapshot("w", window(0)).created and asked == [66]  # a first save (a pack blob): all looked up
    head = mv.save_snapshot("w", window(8)).snapshot.id
    assert asked == [66]  # the header and 8 new frames sent (an inline pack), the head's 57 others known: none
    assert fenced == [0, 0]  # all sent, or inherited from the head the commit moves from: nothing to re-count

    # window(16)'s 8 new frames are stored by another world's save, so a save on w may count on them without sending
    # them; one of them is collected between the look-up and the commit (a collection gone wrong, say)
    oasis.admin.create_world("w2", "oasis", owner="alpha")
    mv.save_snapshot("w2", window(16))
    data = window(16)
    gone = cut(data)[0].addresses[60]

    def located_then_lost(*args, **kw):
        found = located(*args, **kw)
        with oasis.app.meta.transaction(write=True) as conn:
            conn.execute(sa.delete(chunks).where(chunks.c.address == gone))
        return found

    monkeypatch.setattr(saves, "located", located_then_lost)
    before, fenced[:] = visible(oasis), []
    with pytest.raises(grpc.RpcError) as e:
        raw_save(oasis, offer(data, head, [0]))  # the header sent; the head's 56 frames inherited, 8 counted on
    assert asked[2:] == [8] and fenced == [8]  # what the save counts on beyond its head and did not send: 8 frames
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "ask which chunks are missing" in e.value.details()
    assert visible(oasis) == before[:1] + (before[1] - 1,) + before[2:]  # only the chunk row deleted under it


def test_a_chunk_sent_that_was_stored_already_keeps_its_row_and_is_touched_by_the_commit(oasis):
    import time

    mv = oasis.server
    head = mv.save_snapshot("w", window(0)).snapshot.id
    oasis.admin.create_world("w2", "oasis", owner="alpha")
    mv.save_snapshot("w2", window(8))  # window(8)'s 8 new frames stored by another world's save
    new = set(cut(window(8))[0].addresses[57:65])
    with oasis.app.meta.transaction(write=True) as conn:  # long untouched: a collection's candidates but for w2's head
        conn.execute(sa.update(chunks).where(chunks.c.address.in_(new)).values(touched_at=0.0))
        packs = dict(conn.execute(sa.select(chunks.c.address, chunks.c.pack).where(chunks.c.address.in_(new))).all())
    began = time.time()
    reply = raw_save(oasis, offer(window(8), head, [0, *range(57, 65)]))  # sent outright, not looked up
    with oasis.app.meta.transaction() as conn:
        rows = conn.execute(sa.select(chunks.c.address, chunks.c.pack, chunks.c.touched_at)
                            .where(chunks.c.address.in_(new))).all()
    assert {a: p for a, p, _ in rows} == packs  # the rows kept (the copy sent is not what they name)
    assert all(t >= began - 1 for _, _, t in rows)  # and touched: the commit counts on them
    assert oasis.admin.load_snapshot(reply.snapshot.id)[1] == window(8)


def test_a_whole_file_save_on_its_head_hashes_and_looks_up_only_what_the_head_lacks(oasis, monkeypatch):
    import multiverse.store.chunked as saves
    from multiverse.metadata.models import vector_discoveries
    from multiverse.state.vectors import state_vectors

    store, hashed, asked = oasis.app.store.chunks, [], []
    real_hash, real_located = saves._hash_rows, saves.located
    monkeypatch.setattr(saves, "_hash_rows", lambda prefix, row, pieces: hashed.append(len(pieces)) or
                        real_hash(prefix, row, pieces))

    def located(chunks, manifest, parent, **kw):  # what the save looks up: those it finds not from memory
        held = store.cached_manifest(parent) if parent else None
        known = store.checks.of(held.addresses) if held is not None else {}
        asked.append(sum(a not in known for a in manifest.addresses))
        return real_located(chunks, manifest, parent, **kw)

    monkeypatch.setattr(saves, "located", located)
    mv = oasis.server
    head = mv.save_whole("w", window(0)).snapshot.id
    assert len(hashed) == 65 and asked == [66]  # a first save: every frame chunk and the players' hashed and looked up
    hashed[:], asked[:] = [], []
    reply = mv.save_whole("w", window(8), expected_parent=head)
    assert mv.last_save.mode == "whole"
    assert len(hashed) == 8 and asked == [9]  # the 8 new frames; and the header: the head holds the other 57
    with oasis.app.meta.transaction() as conn:
        held = {v: (k, i) for v, k, i in conn.execute(sa.select(
            vector_discoveries.c.vector, vector_discoveries.c.kind, vector_discoveries.c.vector_index)
            .where(vector_discoveries.c.snapshot == reply.snapshot.id))}
    first = {v.digest: (v.kind, v.index) for v in state_vectors(window(0))}
    assert held == {v.digest: (v.kind, v.index) for v in state_vectors(window(8)) if v.digest not in first}
    assert oasis.admin.load_snapshot(reply.snapshot.id)[1] == window(8)


def test_a_save_whose_chunks_are_all_present_sends_none(oasis):
    mv = oasis.server
    data = window(0)
    mv.save_snapshot("w", data)
    other = oasis.client(oasis.admin.create_api_key("alpha", "server").token)  # a new connection: nothing confirmed
    reply = other.save_snapshot("w", data)
    s = other.last_save
    assert s.chunks_sent == 0 and s.asked == 66
    m = cut(data)[0]
    assert s.bytes_sent < 66 * 32 + len(m.encode()) + 512  # questions and the manifest: no chunk bytes
    assert reply.created and reply.snapshot.state_sha256 == m.state_id
    again = mv.save_snapshot("w", data)  # this connection confirmed them all: it does not even ask
    assert mv.last_save.asked == 0 and mv.last_save.chunks_sent == 0 and again.created


def test_a_chunk_that_lies_about_its_hash_is_refused_and_changes_nothing(oasis):
    head = oasis.server.save_snapshot("w", window(0)).snapshot.id
    before = visible(oasis)
    data = window(8)
    m = cut(data)[0]
    with pytest.raises(grpc.RpcError) as e:
        raw_save(oasis, offer(data, head, list(range(len(m.addresses))), tamper=60))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "chunks[60]" in e.value.details()
    assert visible(oasis) == before


def test_chunks_in_batches_are_checked_one_by_one_and_a_save_sends_few_messages(oasis, monkeypatch):
    head = oasis.server.save_snapshot("w", window(0)).snapshot.id
    before = visible(oasis)
    data = window(8)
    with pytest.raises(grpc.RpcError) as e:  # one lying chunk inside a batch: refused by name, nothing stored
        raw_save(oasis, offer(data, head, [0, *range(57, 65)], tamper=60, batch=True))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "chunks[60]" in e.value.details()
    assert visible(oasis) == before
    reply = raw_save(oasis, offer(data, head, [0, *range(57, 65)], batch=True))
    assert oasis.admin.load_snapshot(reply.snapshot.id)[1] == data

    import multiverse.client.chunked as client_side

    sent: list[list] = []
    real = client_side._messages
    monkeypatch.setattr(client_side, "_messages", lambda *a: sent.append(real(*a)) or sent[-1])
    oasis.server.save_snapshot("w", window(16), expected_parent=reply.snapshot.id)
    assert sent == [] and oasis.server.last_save.messages == 1  # 9 chunks: SaveChunksAtOnce, no stream
    monkeypatch.setattr(client_side, "ONE_MESSAGE", 0)  # the stream
    oasis.server.save_snapshot("w", window(24))
    assert [m.WhichOneof("msg") for m in sent[-1]] == ["header", "manifest", "batch"]  # 9 chunks, one message
    monkeypatch.setattr(client_side, "BATCH_BYTES", 3 * 16 * 18 * 32 * 2)
    oasis.server.save_snapshot("w", window(32))
    assert [len(m.batch.chunks) for m in sent[-1][2:]] == [3, 3, 3]  # batches end before BATCH_BYTES


def test_a_chunk_neither_sent_nor_stored_is_failed_precondition_and_changes_nothing(oasis):
    head = oasis.server.save_snapshot("w", window(0)).snapshot.id
    before = visible(oasis)
    data = window(8)
    with pytest.raises(grpc.RpcError) as e:
        raw_save(oasis, offer(data, head, [0, 57, 58]))  # the new frames are chunks 57..64
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "chunks[59]" in e.value.details()
    assert "ask" in e.value.details() and visible(oasis) == before


def test_bad_values_in_a_sent_chunk_and_a_non_canonical_cut_are_refused(oasis):
    head = oasis.server.save_snapshot("w", window(0)).snapshot.id
    before = visible(oasis)
    stream = torch.randn((64, *OASIS)).to(torch.float16)
    stream[40, 3, 4, 5] = float("nan")
    bad = encode_state(stream, torch.zeros((1, 8)), space="oasis", timeline=[],
                       players=[{"uuid": "00000000-0000-4000-8000-000000000001", "name": "p", "stats": {}}])
    with pytest.raises(errors.InvalidArgument) as e:
        oasis.server.save_snapshot("w", bad, expected_parent=head)
    assert e.value.field == "state.frames" and "(40, 3, 4, 5)" in str(e.value)
    data = window(8)
    m, pieces = cut(data)
    messages = offer(data, head, list(range(len(m.addresses))))
    lengths = list(m.lengths)
    lengths[1], lengths[2] = lengths[1] - 2, lengths[2] + 2  # the same bytes, cut elsewhere
    messages[1].manifest.ClearField("lengths")
    messages[1].manifest.lengths.extend(lengths)
    with pytest.raises(grpc.RpcError) as e:
        raw_save(oasis, messages)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert visible(oasis) == before


def test_a_stored_chunk_checked_as_another_dtype_is_read_and_checked(oasis):
    """A header chunk is stored unchecked; a frame chunk with the same bytes must still be scanned."""
    oasis.admin.register_space("ids", (8,), "int16", 8, vocab_size=4)
    oasis.admin.create_world("t", "ids", owner="alpha")
    frames = torch.full((1, 8), 7, dtype=torch.int16)  # 7 is outside the vocabulary 0..3
    bad = encode_state(frames, torch.zeros((0, 8)), space="ids", players=[], timeline=[])
    m, pieces = cut(bad)
    raw = Manifest(len(pieces[1]), (m.addresses[1],), (len(pieces[1]),))  # the same 16 bytes, stored as raw bytes
    oasis.app.store.chunks.put(raw, {m.addresses[1]: Piece(pieces[1], "")})  # (as a header's would be)
    with pytest.raises(errors.InvalidArgument) as e:
        oasis.server.save_snapshot("t", bad)
    assert e.value.field == "state.frames" and "token ids" in str(e.value)
    assert oasis.admin.heads("t") == {}


def test_idempotency_and_compare_and_swap_are_those_of_a_save(oasis):
    mv = oasis.server
    head = mv.save_snapshot("w", window(0)).snapshot.id
    a = mv.save_snapshot("w", window(8), idempotency_key="once")
    b = mv.save_snapshot("w", window(8), idempotency_key="once", expected_parent=head)
    assert a.created and not b.created and a.snapshot.id == b.snapshot.id
    with pytest.raises(errors.AlreadyExists):
        mv.save_snapshot("w", window(16), idempotency_key="once")
    with pytest.raises(errors.HeadMoved) as e:
        mv.save_snapshot("w", window(16), expected_parent=head)
    assert e.value.current == a.snapshot.id
    beta = oasis.client(oasis.admin.create_api_key("beta").token)
    with pytest.raises(errors.NotFound):  # a private world of another server: as if absent
        beta.save_snapshot("w", window(16), expected_parent=a.snapshot.id)
    oasis.admin.set_world_visibility("w", "public")
    with pytest.raises(errors.PermissionDenied):
        beta.save_snapshot("w", window(16), expected_parent=a.snapshot.id)


def test_states_stored_whole_before_chunking_load_byte_identical(oasis):
    """Written as the code before chunking did: the blob store's put of the bytes, a record naming their sha256."""
    app, data = oasis.app, window(0)
    raw = app.blobs.inner
    digest = raw.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    record = SnapshotRecord(id="", world="w", parents=(), state=digest, state_size=len(data), frame_count=64,
                            player_count=1, generation=1, created_at=1.0,
                            provenance={"kind": "save", "by": "alpha", "head": "main"}).sealed()
    app.meta.commit_snapshot(record, head="main", expected=None)
    snap, got = oasis.admin.load_snapshot("w")
    assert got == data and snap.state_sha256 == digest
    tensors, info = read_state(app.blobs, digest, len(data))
    assert info.frame_count == 64 and tensors["frames"].shape == (64, *OASIS)
    header = stored_header(data)
    row = read_row(app.blobs, digest, header, "frames", 5)
    at = header.data_start + header.tensor("frames").begin + 5 * row.tensor.row_bytes
    assert row.raw == data[at : at + row.tensor.row_bytes]
    # the next save, chunked, builds on it
    nxt = oasis.server.save_snapshot("w", window(8))
    assert list(nxt.snapshot.parents) == [record.id] and oasis.admin.load_snapshot("w")[1] == window(8)
    got_state, _ = read_state(app.blobs, nxt.snapshot.state_sha256, nxt.snapshot.state_size)
    assert torch.equal(got_state["frames"][0], tensors["frames"][8])


def test_hostile_manifests_and_questions_are_refused(oasis):
    head = oasis.server.save_snapshot("w", window(0)).snapshot.id
    data = window(8)
    bad = offer(data, head, [])
    bad[1].manifest.addresses = bad[1].manifest.addresses[:-1]
    with pytest.raises(grpc.RpcError) as e:
        raw_save(oasis, bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "manifest.addresses" in e.value.details()
    bad = offer(data, head, [])
    bad[1].manifest.size += 1
    with pytest.raises(grpc.RpcError) as e:
        raw_save(oasis, bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(errors.InvalidArgument) as e:
        oasis.server._call("FindMissingChunks", store_pb2.FindMissingChunksRequest(addresses=b"\x00" * 33))
    assert e.value.field == "addresses"
    missing = oasis.server._call("FindMissingChunks", store_pb2.FindMissingChunksRequest(
        addresses=bytes.fromhex(address(b"never stored")) + bytes.fromhex(cut(window(0))[0].addresses[3])))
    assert list(missing.missing) == [0]
    unknown = oasis.client("not-a-key")
    with pytest.raises(errors.Unauthenticated):
        unknown._call("FindMissingChunks", store_pb2.FindMissingChunksRequest(addresses=b"\x00" * 32))
    assert json.loads(oasis.admin.get_snapshot("w").provenance_json)["kind"] == "save"


def test_a_save_to_a_world_deleted_since_its_last_save_is_refused_and_changes_nothing(oasis):
    """The store keeps the world and the head it last saved (multiverse/store/facts.py); the commit re-reads the
    world, so a deletion meanwhile refuses the save as it did before anything was kept, chunked or whole."""
    head = oasis.server.save_snapshot("w", window(0)).snapshot.id
    oasis.admin.delete_world("w")

    def stored() -> tuple:  # visible() but the heads, which a deleted world has none of
        with oasis.app.meta.transaction() as conn:
            return (conn.execute(sa.select(sa.func.count()).select_from(chunks)).scalar(),
                    conn.execute(sa.select(sa.func.count()).select_from(chunked_states)).scalar(),
                    sorted(oasis.app.blobs.digests()))

    before = stored()
    for whole in (False, True):
        save = oasis.server.save_whole if whole else oasis.server.save_snapshot
        with pytest.raises(errors.NotFound, match="'w' was deleted at"):
            save("w", window(8), expected_parent=head)
        assert stored() == before
