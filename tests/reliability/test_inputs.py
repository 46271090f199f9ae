"""Untrusted input (issue 12, items 0, 2, 3, 5, 6): every input that reached INTERNAL, crashed or bloated the
server, or was silently dropped, is now a clear error naming its field, and changes nothing. Against a real
in-process server (tests/services/conftest.py); the crash cases against a subprocess are in test_inputs_server.py,
the cases below the wire in test_inputs_domain.py.
"""

from __future__ import annotations

import base64
import json
import struct
import time

import grpc
import pytest
import torch
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from multiverse import errors
from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state
from multiverse.state.synth import synth_state
from multiverse.v1 import common_pb2, multiverse_pb2, multiverse_pb2_grpc, rarity_pb2, rarity_pb2_grpc, store_pb2, store_pb2_grpc
from tests.services.conftest import stack  # noqa: F401 - the in-process server fixture

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)
UUID = "069a79f4-44e9-4726-a5be-fca90e38aaf5"


def with_header(data: bytes, mutate) -> bytes:
    """``data`` (a state file) with its JSON header changed by ``mutate(header_dict)``."""
    n = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + n])
    mutate(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def raw_state(header_edit=lambda text: text, players_edit=lambda text: text) -> bytes:
    """A one-player state whose players' JSON and then header are edited as text: for what json.dumps cannot
    write (NaN, 5,000-digit integers, deep nesting)."""
    player = {"uuid": UUID, "name": "steve", "stats": {"Health": 20.0}}
    data = encode_state(torch.zeros(3, 4, 3, 2, dtype=torch.float16), torch.zeros(1, 8), space="demo",
                        players=[player], timeline=[])
    n = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + n])
    header["__metadata__"]["players"] = players_edit(json.dumps([player], separators=(",", ":")))
    raw = header_edit(json.dumps(header, separators=(",", ":"))).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + n:]


def synth(seed: int, frames: int = 6, players: int = 2) -> bytes:
    return synth_state(SPACE, frames=frames, players=players, seed=seed)


def unchanged(stack, world: str):
    """What a refused call must not change: heads, stored blobs, leftover spool files."""
    return (stack.admin.heads(world), sorted(stack.app.blobs.digests()), list(stack.app.settings.spool_dir.iterdir()))


def refused(call, code=grpc.StatusCode.INVALID_ARGUMENT) -> tuple[str, grpc.RpcError]:
    """Run a raw stub call that must fail with ``code``; returns (BadRequest field or "", the error)."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    err = info.value
    assert err.code() == code, (err.code(), err.details())
    status = rpc_status.from_call(err)
    bad = error_details_pb2.BadRequest()
    field = ""
    for d in status.details if status else ():
        if d.Is(bad.DESCRIPTOR) and d.Unpack(bad):
            field = bad.field_violations[0].field
    return field, err


def auth(token: str):
    return (("authorization", f"Bearer {token}"),)


def admin_token(stack) -> str:
    return stack.data.joinpath("admin.key").read_text().strip()


def save_raw(stack, data: bytes, world: str = "w1", **header):
    stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(stack.address))
    messages = [store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world=world, size=len(data), **header))]
    messages += [store_pb2.SaveSnapshotRequest(chunk=data[i:i + (1 << 20)]) for i in range(0, len(data), 1 << 20)]
    return stub.SaveSnapshot(iter(messages), metadata=auth(admin_token(stack)), timeout=30)


# item 0: one definition of the state format, required by the validator ----------------------------------------
@pytest.mark.parametrize("key", ["timeline", "players", "format", "space"])
def test_a_state_missing_a_metadata_key_is_refused_naming_it(stack, key):
    stack.admin.create_world("w1", "demo")
    before = unchanged(stack, "w1")
    data = with_header(synth(1, players=0), lambda h: h["__metadata__"].pop(key))
    field, err = refused(lambda: save_raw(stack, data))
    assert field == f"state.__metadata__.{key}", err.details()
    assert "missing" in err.details()
    assert unchanged(stack, "w1") == before


def test_a_state_without_metadata_is_refused(stack):
    stack.admin.create_world("w1", "demo")
    field, _ = refused(lambda: save_raw(stack, with_header(synth(1), lambda h: h.pop("__metadata__"))))
    assert field == "state.__metadata__"


# item 5: inputs that reached INTERNAL -----------------------------------------------------------------------
def _dtype_list(h):
    h["frames"]["dtype"] = ["F16"]


def _dtype_object(h):
    h["players"]["dtype"] = {"F32": 1}


def _bool_shape(h):
    h["players"]["shape"] = [True, 8]


def _bool_offsets(h):
    h["frames"]["data_offsets"] = [False, h["frames"]["data_offsets"][1]]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_dtype_list, "state.frames.dtype"),
        (_dtype_object, "state.players.dtype"),
        (_bool_shape, "state.players.shape"),
        (_bool_offsets, "state.frames.data_offsets"),
    ],
)
def test_header_values_of_the_wrong_type_are_invalid_argument(stack, mutate, field):
    stack.admin.create_world("w1", "demo")
    before = unchanged(stack, "w1")
    got, err = refused(lambda: save_raw(stack, with_header(synth(2), mutate)))
    assert got == field, err.details()
    assert unchanged(stack, "w1") == before


BIG_INT = "9" * 5000  # past Python's 4,300-digit int parsing limit
HUGE_INT = "1" + "0" * 309  # 1e309 as an integer: past float range (math.isfinite raised OverflowError)


def _health(text: str):
    return {"players_edit": lambda players: players.replace('"Health":20.0', f'"Health":{text}')}


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"header_edit": lambda h: h.replace('"shape":[', f'"shape":[{BIG_INT},', 1)}, "state.header"),
        (_health(HUGE_INT), "state.__metadata__.players"),
        (_health(BIG_INT), "state.__metadata__.players"),
        (_health("1e999"), "state.__metadata__.players"),
        (_health("NaN"), "state.__metadata__.players"),
    ],
)
def test_numbers_past_float_range_are_invalid_argument(stack, edit, field):
    stack.admin.create_world("w1", "demo")
    before = unchanged(stack, "w1")
    data = raw_state(**edit)
    got, err = refused(lambda: save_raw(stack, data))
    assert got == field, err.details()
    assert unchanged(stack, "w1") == before


def test_params_and_reference_json_with_huge_integers_are_invalid_argument(stack):
    token = admin_token(stack)
    channel = grpc.insecure_channel(stack.address)
    space = common_pb2.LatentSpace(name="big", frame_shape=[2], dtype="float32", player_dim=1,
                                   reference_json=f'{{"norm_mean": {BIG_INT}}}')
    field, _ = refused(lambda: store_pb2_grpc.StoreStub(channel).RegisterSpace(
        store_pb2.RegisterSpaceRequest(space=space), metadata=auth(token)))
    assert field == "space.reference_json"
    cross = multiverse_pb2_grpc.MultiverseStub(channel)
    request = multiverse_pb2.CrossRequest(parents=["a", "b"], op="linear", name="c", params_json=f'{{"t": {BIG_INT}}}')
    field, _ = refused(lambda: cross.PreviewCross(request, metadata=auth(token)))
    assert field == "params_json"
    field, _ = refused(lambda: list(cross.CrossWorlds(request, metadata=auth(token))))
    assert field == "params_json"


def test_reference_statistics_must_be_finite_numbers(stack):
    with pytest.raises(errors.InvalidArgument) as info:
        stack.admin.register_space("ref", (2,), "float32", 1, reference_json='{"norm_mean": "abc", "norm_std": 1.0}')
    assert info.value.details["field"] == "space.reference_json.norm_mean"


@pytest.mark.parametrize("name", ["x" * 10_000, "\u00e9" * 10_000, "\U0001f4a5" * 10_000])
def test_long_names_get_the_real_error_not_resource_exhausted(stack, name):
    """Errors that echo a 10,000-character input fit gRPC's trailer cap (the client saw RESOURCE_EXHAUSTED)."""
    token = admin_token(stack)
    store = store_pb2_grpc.StoreStub(grpc.insecure_channel(stack.address))
    stack.admin.create_world("w1", "demo")
    stack.admin.save_snapshot("w1", synth(1))
    calls = {  # the first two answer NOT_FOUND with the whole name in the message and the details
        "GetSpace": lambda: store.GetSpace(store_pb2.GetSpaceRequest(name=name), metadata=auth(token)),
        "CreateWorld.space": lambda: store.CreateWorld(store_pb2.CreateWorldRequest(name="w2", space=name),
                                                       metadata=auth(token)),
        "GetWorld": lambda: store.GetWorld(store_pb2.GetWorldRequest(name=name), metadata=auth(token)),
        "GetSnapshot": lambda: store.GetSnapshot(store_pb2.GetSnapshotRequest(ref=name), metadata=auth(token)),
        "Log.page_token": lambda: store.Log(store_pb2.LogRequest(ref="w1", page_token=name), metadata=auth(token)),
        "CreateWorld.name": lambda: store.CreateWorld(store_pb2.CreateWorldRequest(name=name, space="demo"),
                                                      metadata=auth(token)),
    }
    for what, call in calls.items():
        with pytest.raises(grpc.RpcError) as info:
            call()
        got = info.value.code()
        assert got in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), (what, got, info.value.details()[:200])
        assert what not in ("GetSpace", "CreateWorld.space") or got == grpc.StatusCode.NOT_FOUND
        assert len(info.value.details().encode()) <= 1024


# field names follow the wire contract -----------------------------------------------------------------------
def test_page_token_and_id_snapshot_are_named_as_on_the_wire(stack):
    token = admin_token(stack)
    channel = grpc.insecure_channel(stack.address)
    stack.admin.create_world("w1", "demo")
    stack.admin.save_snapshot("w1", synth(1))
    store = store_pb2_grpc.StoreStub(channel)
    field, _ = refused(lambda: store.Log(store_pb2.LogRequest(ref="w1", page_token="garbage"), metadata=auth(token)))
    assert field == "page_token"
    rarity = rarity_pb2_grpc.RarityStub(channel)
    field, _ = refused(lambda: rarity.TopRare(rarity_pb2.TopRareRequest(space="demo", page_token="garbage"),
                                              metadata=auth(token)))
    assert field == "page_token"
    field, _ = refused(lambda: rarity.TopRare(rarity_pb2.TopRareRequest(space="demo", page_token="x" * 5000),
                                              metadata=auth(token)))
    assert field == "page_token"
    bad = rarity_pb2.VectorRef(snapshot="not-hex!", kind="frame", index=0)
    field, _ = refused(lambda: rarity.RarityOf(rarity_pb2.RarityOfRequest(id=bad), metadata=auth(token)))
    assert field == "id.snapshot"
    field, _ = refused(lambda: rarity.Neighbors(rarity_pb2.NeighborsRequest(id=bad), metadata=auth(token)))
    assert field == "id.snapshot"


# item 2: authorization before decoding ----------------------------------------------------------------------
def test_admin_requests_are_authorized_before_their_json_is_parsed(stack):
    key = stack.admin.create_api_key("beta").token
    channel = grpc.insecure_channel(stack.address)
    space = common_pb2.LatentSpace(name="s", frame_shape=[2], dtype="float32", player_dim=1, reference_json="{bad")
    refused(lambda: store_pb2_grpc.StoreStub(channel).RegisterSpace(store_pb2.RegisterSpaceRequest(space=space),
                                                                     metadata=auth(key)),
            grpc.StatusCode.PERMISSION_DENIED)
    cross = multiverse_pb2_grpc.MultiverseStub(channel)
    request = multiverse_pb2.CrossRequest(parents=["a", "b"], name="c", pipeline_json="[" * 100_000)
    refused(lambda: cross.PreviewCross(request, metadata=auth(key)), grpc.StatusCode.PERMISSION_DENIED)
    refused(lambda: list(cross.CrossWorlds(request, metadata=auth(key))), grpc.StatusCode.PERMISSION_DENIED)


# item 6: a game server's retries are safe -------------------------------------------------------------------
def test_an_idempotency_key_reused_for_other_bytes_or_head_is_refused_naming_the_first(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    first = stack.server.save_snapshot("w1", synth(1), expected_parent="", idempotency_key="k1").snapshot
    replay = stack.server.save_snapshot("w1", synth(1), expected_parent="", idempotency_key="k1")
    assert not replay.created and replay.snapshot.id == first.id
    before = unchanged(stack, "w1")
    for state, head in ((synth(2), "main"), (synth(1), "other")):
        with pytest.raises(errors.AlreadyExists) as info:
            stack.server.save_snapshot("w1", state, expected_parent=first.id if head == "main" else "", head=head,
                                       idempotency_key="k1")
        assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
        assert info.value.details["first_snapshot"] == first.id and first.id in info.value.message
        assert stack.admin.heads("w1") == before[0]
    # the same bytes to the same head, re-read expected parent (the client saw its own save land): a replay
    again = stack.server.save_snapshot("w1", synth(1), expected_parent=first.id, idempotency_key="k1")
    assert not again.created and again.snapshot.id == first.id


# item 5: a cross that reports failure has committed nothing -------------------------------------------------
@pytest.mark.slow
def test_a_cross_that_reports_failure_created_nothing(stack, monkeypatch):
    stack.admin.create_world("a", "demo")
    stack.admin.create_world("b", "demo")
    stack.admin.save_snapshot("a", synth(1))
    stack.admin.save_snapshot("b", synth(2))
    meta = stack.app.crossing.meta
    spawn = meta.spawn_world

    def slow_spawn(*args, **kw):  # a slow disk: the commit takes half a second
        time.sleep(0.5)
        return spawn(*args, **kw)

    monkeypatch.setattr(meta, "spawn_world", slow_spawn)
    stub = multiverse_pb2_grpc.MultiverseStub(grpc.insecure_channel(stack.address))
    outcomes = []
    for i, deadline in enumerate([0.2 + 0.15 * k for k in range(12)] + [3.0]):
        request = multiverse_pb2.CrossRequest(parents=["a", "b"], op="linear", name=f"c{i}", seed=i)
        try:
            list(stub.CrossWorlds(request, metadata=auth(admin_token(stack)), timeout=deadline))
            ok = True
        except grpc.RpcError as exc:
            assert exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED), exc.details()
            ok = False
        time.sleep(0.6)  # let a commit that was under way finish before looking
        exists = stack.app.meta.list_worlds(space="demo", owner=None, after="", limit=100)
        exists = f"c{i}" in [w.name for w in exists]
        outcomes.append((deadline, ok, exists))
        assert ok == exists, f"deadline {deadline:.2f} s: reported {'success' if ok else 'failure'}, world " \
                             f"{'created' if exists else 'absent'} ({outcomes})"
    assert outcomes[-1][1], outcomes  # a deadline with room to commit succeeds


# jsonsafe ---------------------------------------------------------------------------------------------------
def test_log_page_token_nested_deeply_is_invalid_argument(stack):
    stack.admin.create_world("w1", "demo")
    stack.admin.save_snapshot("w1", synth(1))
    token = base64.urlsafe_b64encode(b"[" * 200_000).decode()
    store = store_pb2_grpc.StoreStub(grpc.insecure_channel(stack.address))
    field, _ = refused(lambda: store.Log(store_pb2.LogRequest(ref="w1", page_token=token), metadata=auth(admin_token(stack))))
    assert field == "page_token"


def test_deep_player_json_is_refused_naming_the_metadata_key(stack):
    stack.admin.create_world("w1", "demo")
    deep = "[" * 100_000 + "]" * 100_000
    data = raw_state(players_edit=lambda _: deep)
    field, _ = refused(lambda: save_raw(stack, data))
    assert field == "state.__metadata__.players"


# found by the fuzz run (bench/fuzz_bench.py) -------------------------------------------------------------------
def test_a_header_naming_a_key_twice_is_refused(stack):
    """Python's JSON keeps the last of two equal keys, safetensors refuses the file: such a state was accepted,
    then could not be read back by any safetensors reader."""
    stack.admin.create_world("w1", "demo")
    before = unchanged(stack, "w1")
    data = raw_state(header_edit=lambda text: '{"frames":1,' + text[1:])
    field, err = refused(lambda: save_raw(stack, data))
    assert field == "state.header" and "'frames' twice" in err.details()
    assert unchanged(stack, "w1") == before


def test_a_cross_naming_a_parent_twice_stores_nothing(stack):
    """Refused before anything is computed: the refusal left the child's state blob behind."""
    stack.admin.create_world("w1", "demo")
    snap = stack.admin.save_snapshot("w1", synth(1)).snapshot.id
    before = sorted(stack.app.blobs.digests())
    with pytest.raises(errors.InvalidArgument) as err:
        stack.admin.cross([snap, snap], name="x1", op="slerp")
    assert err.value.details.get("field") == "parents" and "named twice" in err.value.message
    assert sorted(stack.app.blobs.digests()) == before
