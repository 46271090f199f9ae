"""The Store service over real gRPC: round trips, auth, compare-and-swap, idempotency, bad input."""

from __future__ import annotations

import hashlib
import json
import threading

import grpc
import pytest
import sqlalchemy as sa
import torch
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from multiverse import errors
from multiverse.metadata.models import chunk_packs, chunked_states, chunks
from multiverse.chunks.cut import cut
from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state
from multiverse.state.synth import synth_state
from multiverse.v1 import store_pb2, store_pb2_grpc

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)


def synth(seed: int, frames: int = 6, players: int = 2) -> bytes:
    return synth_state(SPACE, frames=frames, players=players, seed=seed)


def unchanged(stack, world: str):
    """A snapshot of what a failed call must not change: heads, stored blobs, leftover spool files."""
    return (stack.admin.heads(world), sorted(stack.app.blobs.digests()), list(stack.app.settings.spool_dir.iterdir()))


def test_save_and_load_give_back_identical_bytes(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    data = synth(1, frames=400)  # > 1 MiB: several chunks
    reply = stack.server.save_snapshot("w1", data)
    snap = reply.snapshot
    assert reply.created and snap.world == "w1" and snap.parents == [] and snap.generation == 1
    # the state's id is its chunk manifest's sha256 (docs/chunks.md), no longer the file's
    assert snap.state_sha256 == cut(data)[0].state_id and snap.frame_count == 400
    for ref in (snap.id, snap.id[:10], "w1", "w1@main"):
        got_snap, got = stack.admin.load_snapshot(ref)
        assert got == data and got_snap.id == snap.id
    assert stack.admin.get_snapshot("w1").id == snap.id
    assert json.loads(snap.provenance_json) == {"kind": "save", "by": "alpha", "head": "main"}


def test_load_to_file_and_lineage(stack, tmp_path):
    stack.admin.create_world("w1", "demo", owner="alpha")
    ids = [stack.server.save_snapshot("w1", synth(i)).snapshot.id for i in range(5)]
    out = tmp_path / "out.safetensors"
    snap, none = stack.admin.load_snapshot("w1", out)
    assert none is None and out.read_bytes() == synth(4) and snap.id == ids[-1]
    log = list(stack.admin.log("w1", page_size=2))
    assert [s.id for s in log] == ids[::-1]
    assert [s.generation for s in log] == [5, 4, 3, 2, 1]
    assert all(list(s.parents) == [p] for s, p in zip(log, ids[::-1][1:]))
    assert stack.admin.heads("w1") == {"main": ids[-1]}
    assert stack.admin.get_world("w1").heads == {"main": ids[-1]}


def stored_rows(stack) -> dict[str, list]:
    with stack.app.meta.transaction() as conn:
        return {t.name: sorted(conn.execute(sa.select(t.primary_key.columns.values()[0])).scalars())
                for t in (chunks, chunk_packs, chunked_states)}


def test_same_state_twice_is_one_state(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    a = stack.server.save_snapshot("w1", synth(7)).snapshot
    stored, blobs = stored_rows(stack), sorted(stack.app.blobs.digests())  # one inline pack and the manifest
    b = stack.server.save_snapshot("w1", synth(7)).snapshot
    assert a.id != b.id and a.state_sha256 == b.state_sha256
    assert stored["chunked_states"] == [a.state_sha256] and len(stored["chunk_packs"]) == 1
    after = stored_rows(stack)  # nothing new: the second save counted on the stored chunks (touched within slack)
    assert after == stored and sorted(stack.app.blobs.digests()) == blobs


def test_stale_expected_parent_is_failed_precondition_with_current_head(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    first = stack.server.save_snapshot("w1", synth(1), expected_parent="").snapshot
    second = stack.server.save_snapshot("w1", synth(2), expected_parent=first.id).snapshot
    before = unchanged(stack, "w1")
    with pytest.raises(errors.HeadMoved) as info:
        stack.server.save_snapshot("w1", synth(3), expected_parent=first.id)
    assert info.value.current == second.id and info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(errors.HeadMoved):
        stack.server.save_snapshot("w1", synth(3), expected_parent="")
    heads, _digests, spool = before
    assert stack.admin.heads("w1") == heads and spool == [] and list(stack.app.settings.spool_dir.iterdir()) == []


def test_idempotent_retry_returns_the_same_snapshot(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    first = stack.server.save_snapshot("w1", synth(1), idempotency_key="tick-1")
    again = stack.server.save_snapshot("w1", synth(1), expected_parent="", idempotency_key="tick-1")
    assert first.created and not again.created and again.snapshot.id == first.snapshot.id
    assert stack.admin.heads("w1") == {"main": first.snapshot.id}
    assert len(list(stack.admin.log("w1"))) == 1


def test_auto_saves_read_the_head_once_and_take_a_head_moved_by_another_writer_from_the_refusal(stack, monkeypatch):
    """AUTO (no expected_parent) reads the head before this client's first save of a world only, so each save is one
    call (round-robin spreads saves over replicas, not the reads and the saves apart); a head another writer moved
    is taken from the compare-and-swap's refusal and the save goes onto it."""
    stack.admin.create_world("w1", "demo", owner="alpha")
    mine, reads = stack.server, []
    real = type(mine).heads
    monkeypatch.setattr(mine, "heads", lambda world: reads.append(world) or real(mine, world))
    a = mine.save_snapshot("w1", synth(1)).snapshot
    b = mine.save_snapshot("w1", synth(2)).snapshot
    assert reads == ["w1"] and list(b.parents) == [a.id]
    other = stack.client(stack.admin.create_api_key("alpha", "server").token)
    c = other.save_snapshot("w1", synth(3)).snapshot  # another writer: the head is c now
    d = mine.save_snapshot("w1", synth(4)).snapshot
    assert list(c.parents) == [b.id] and list(d.parents) == [c.id] and reads == ["w1"]
    assert stack.admin.heads("w1") == {"main": d.id}


def test_two_writers_race_without_lost_updates(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    acknowledged: list[str] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        for i in range(8):
            while True:
                try:
                    reply = stack.server.save_snapshot("w1", synth(seed * 100 + i))
                    break
                except errors.HeadMoved:
                    continue
            with lock:
                acknowledged.append(reply.snapshot.id)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    chain = [s.id for s in stack.admin.log("w1")]
    assert len(acknowledged) == 16 and sorted(chain) == sorted(acknowledged)
    assert [s.generation for s in stack.admin.log("w1")] == list(range(16, 0, -1))


def test_auth_rules(stack):
    stack.admin.create_world("mine", "demo", owner="alpha")
    stack.admin.create_world("theirs", "demo", owner="beta")
    for client in (stack.client(None), stack.client("mvk_nope_nope"), stack.client("garbage")):
        with pytest.raises(errors.Unauthenticated):
            client.whoami()
    assert stack.server.whoami().principal == "alpha"
    with pytest.raises(errors.NotFound):  # another server's private world is as if it did not exist
        stack.server.save_snapshot("theirs", synth(1))
    with pytest.raises(errors.PermissionDenied):
        stack.server.register_space("x", (2,), "float32", 2)
    with pytest.raises(errors.PermissionDenied):
        stack.server.create_api_key("gamma")
    with pytest.raises(errors.PermissionDenied):
        stack.server.create_world("w9", "demo", owner="beta")
    assert stack.server.create_world("own", "demo").owner == "alpha"
    stack.server.save_snapshot("mine", synth(1))
    theirs = stack.admin.save_snapshot("theirs", synth(2)).snapshot.id  # an admin may write any world
    with pytest.raises(errors.NotFound):  # still, now that the store has the world at hand from the admin's save
        stack.server.save_snapshot("theirs", synth(3), expected_parent=theirs)
    assert stack.admin.heads("theirs") == {"main": theirs}


def test_a_key_revoked_in_the_metadata_stops_working_within_the_time_a_check_is_kept(stack):
    import sqlalchemy as sa

    from multiverse.metadata.models import api_keys
    from multiverse.store.auth import KEY_KEPT_S, Keys

    now = [100.0]
    keys = Keys(stack.app.meta, clock=lambda: now[0])
    token = stack.admin.create_api_key("beta").token
    assert keys.principal(token).name == "beta"
    with pytest.raises(errors.Unauthenticated):  # another secret for the same key id: checked, not taken as kept
        keys.principal(token[:-4] + "AAAA")
    with stack.app.meta.transaction(write=True) as conn:
        conn.execute(api_keys.update().where(api_keys.c.id == token.split("_")[1]).values(revoked=True))
    assert keys.principal(token).name == "beta"  # kept
    now[0] += KEY_KEPT_S
    for _ in range(2):  # read again, refused; a refusal is not kept
        with pytest.raises(errors.Unauthenticated, match="revoked"):
            keys.principal(token)


def test_api_keys_are_stored_hashed(stack):
    token = stack.admin.create_api_key("beta").token
    key_id, secret = token.split("_")[1], token.split("_", 2)[2]
    record = stack.app.meta.get_key(key_id)
    assert secret not in repr(record) and record.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    admin_file = stack.data / "admin.key"
    assert admin_file.stat().st_mode & 0o777 == 0o600


def test_spaces_and_worlds(stack):
    again = stack.admin.register_space("demo", (4, 3, 2), "float16", 8, max_players=8)
    assert list(again.frame_shape) == [4, 3, 2]
    with pytest.raises(errors.AlreadyExists):
        stack.admin.register_space("demo", (4, 3, 3), "float16", 8, max_players=8)
    with pytest.raises(errors.InvalidArgument) as info:
        stack.admin.register_space("Bad Name", (4,), "float16", 8)
    assert info.value.details["field"] == "space.name"
    with pytest.raises(errors.InvalidArgument):
        stack.admin.register_space("d2", (4,), "complex64", 8)
    with pytest.raises(errors.NotFound):
        stack.admin.create_world("w1", "nospace")
    stack.admin.create_world("w1", "demo", owner="alpha")
    with pytest.raises(errors.AlreadyExists):
        stack.admin.create_world("w1", "demo", owner="beta")
    with pytest.raises(errors.NotFound):
        stack.admin.load_snapshot("w1")  # no snapshot yet
    with pytest.raises(errors.NotFound):
        stack.admin.get_snapshot("ab" * 32)


def invalid(stack, state: bytes, field: str, **kw):
    before = unchanged(stack, "w1")
    with pytest.raises(errors.InvalidArgument) as info:
        stack.server.save_snapshot("w1", state, **kw)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details["field"] == field, info.value.message
    assert unchanged(stack, "w1") == before
    return info.value


def test_bad_uploads_are_invalid_argument_and_change_nothing(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    stack.server.save_snapshot("w1", synth(0))
    frames = torch.zeros((3, 4, 3, 2), dtype=torch.float16)
    frames[1, 0, 0, 0] = float("nan")
    nan = encode_state(frames, torch.zeros(0, 8), space="demo", players=[], timeline=[])
    err = invalid(stack, nan, "state.frames")
    assert "NaN or Inf at index (1, 0, 0, 0)" in err.message
    wrong = encode_state(torch.zeros((3, 4, 3, 3), dtype=torch.float16), torch.zeros(0, 8), space="demo", players=[], timeline=[])
    assert "expects (T, 4, 3, 2)" in invalid(stack, wrong, "state.frames.shape").message
    invalid(stack, b"not a state file at all", "state.header_length")
    invalid(stack, synth(1), "header.expected_parent", expected_parent="nothex")


def raw_save(stack, messages, key=None):
    """Send hand-made SaveSnapshot messages (what a buggy client might send)."""
    stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(stack.address))
    token = key or stack.data.joinpath("admin.key").read_text().strip()
    return stub.SaveSnapshot(iter(messages), metadata=(("authorization", f"Bearer {token}"),))


def header(**kw):
    return store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world="w1", **kw))


def chunk(data: bytes):
    return store_pb2.SaveSnapshotRequest(chunk=data)


def sha256(digest: str):
    return store_pb2.SaveSnapshotRequest(sha256=digest)


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        (lambda d: [chunk(d)], "header"),
        (lambda d: [header(size=len(d)), chunk(d), header(size=1)], "messages[2]"),
        (lambda d: [header(size=len(d) + 5), chunk(d)], "state"),  # the safetensors header disagrees with size
        (lambda d: [header(size=len(d) - 5), chunk(d)], "header.size"),
        (lambda d: [header(size=0)], "header.size"),
        (lambda d: [header(size=len(d), sha256="0" * 64), chunk(d)], "header.sha256"),
        (lambda d: [header(size=len(d)), chunk(d), sha256("0" * 64)], "sha256"),
        (lambda d: [header(size=len(d)), chunk(d), sha256("xyz")], "sha256"),
        (lambda d: [header(size=len(d)), chunk(d[:10]), sha256("0" * 64), chunk(d[10:])], "sha256"),
        (lambda d: [header(size=2 << 20), chunk(b"\0" * ((1 << 20) + 1))], "chunk"),
        (lambda d: [header(size=len(d), head="Bad Head"), chunk(d)], "header.head"),
        (lambda d: [header(size=len(d), idempotency_key="has space"), chunk(d)], "header.idempotency_key"),
        (lambda d: [header(size=65 << 20)], "header.size"),
    ],
)
def test_malformed_streams_are_rejected_with_the_field(stack, messages, field):
    stack.admin.create_world("w1", "demo", owner="alpha")
    before = unchanged(stack, "w1")
    with pytest.raises(grpc.RpcError) as info:
        raw_save(stack, messages(synth(3)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    status = rpc_status.from_call(info.value)
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    assert bad.field_violations[0].field == field
    assert unchanged(stack, "w1") == before


def test_health_and_reflection(stack):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(stack.address)
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="multiverse.v1.Store"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for a in answers for s in a.list_services_response.service}
    assert "multiverse.v1.Store" in names and "grpc.health.v1.Health" in names
