"""Requests the server cannot decode (issue 12, the fuzzer's raw protobuf bytes): each is refused with
INVALID_ARGUMENT naming ``request`` and the message type to send, as any other bad input; the connection keeps
serving after hundreds of them; an upload whose later message does not parse commits nothing. Against a real
in-process server (services/decode.py)."""

from __future__ import annotations


import grpc
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from multiverse.app import App
from multiverse.client import Client
from multiverse.config import Limits, Settings
from multiverse.metadata.models import chunked_states
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.store.auth import ensure_admin_key
from multiverse.v1 import store_pb2
from services.server import build_server

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)
BROKEN_TRAILER = bytes.fromhex("1affffffff0f")  # field 3 (sha256), a length of 2**32 - 1 that the message lacks


@pytest.fixture
def served(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0",
                        limits=Limits(max_state_bytes=64 << 20, max_frames=4096), workers=8)
    app = App.open(settings)
    token = ensure_admin_key(app.meta, settings.data_dir)
    server, port = build_server(app, settings.grpc_addr)
    server.start()
    address = f"127.0.0.1:{port}"
    admin = Client(address, token)
    admin.register_space(SPACE.name, SPACE.frame_shape, SPACE.dtype, SPACE.player_dim)
    admin.create_world("w", SPACE.name)
    channel = grpc.insecure_channel(address)
    try:
        yield app, admin, channel, (("authorization", f"Bearer {token}"),)
    finally:
        channel.close()
        admin.close()
        server.stop(grace=None).wait()
        app.close()


def bad_request(err: grpc.RpcError) -> error_details_pb2.BadRequest.FieldViolation:
    """The first field violation of a refusal's rich status."""
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    status = rpc_status.from_call(err)
    assert status is not None, f"no rich status: {err.details()}"
    for packed in status.details:
        bad = error_details_pb2.BadRequest()
        if packed.Unpack(bad):
            return bad.field_violations[0]
    raise AssertionError(f"no BadRequest in {status}")


def test_an_undecodable_unary_request_is_refused_naming_request_and_its_type(served):
    _, _, channel, md = served
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary("/multiverse.v1.Store/GetSpace")(b"\xff", metadata=md, timeout=10)
    violation = bad_request(err.value)
    assert violation.field == "request"
    assert "/multiverse.v1.Store/GetSpace" in violation.description
    assert "send a serialized multiverse.v1.GetSpaceRequest" in violation.description
    assert "deserializing" not in err.value.details()


def test_health_and_reflection_refuse_what_they_cannot_decode_and_still_serve(served):
    _, _, channel, _ = served
    for call in (channel.unary_unary("/grpc.health.v1.Health/Check"),
                 lambda m, **kw: list(channel.unary_stream("/grpc.health.v1.Health/Watch")(m, **kw)),
                 lambda m, **kw: list(channel.stream_stream(
                     "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")(iter([m]), **kw))):
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff", timeout=10)
        assert bad_request(err.value).field == "request"
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=10)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING, "Watch keeps its non-blocking kind"
    watch.cancel()


def test_the_connection_serves_after_200_undecodable_requests(served):
    """Twice grpc's 100 concurrent streams per connection: every refused call's stream is released."""
    _, _, channel, md = served
    get_space = channel.unary_unary("/multiverse.v1.Store/GetSpace")
    codes = set()
    for _ in range(200):
        with pytest.raises(grpc.RpcError) as err:
            get_space(b"\xff", metadata=md, timeout=10)
        codes.add(err.value.code())
    assert codes == {grpc.StatusCode.INVALID_ARGUMENT}
    reply = channel.unary_unary("/multiverse.v1.Store/ListSpaces", response_deserializer=store_pb2.ListSpacesResponse.FromString)(
        store_pb2.ListSpacesRequest().SerializeToString(), metadata=md, timeout=10)
    assert [s.name for s in reply.spaces] == [SPACE.name]


def blobs(app: App) -> int:
    """States stored (chunked: their manifests live in the metadata, their chunks in packs)."""
    with app.meta.transaction() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(chunked_states)).scalar_one()


def test_a_save_whose_trailer_cannot_be_decoded_commits_nothing(served):
    app, admin, channel, md = served
    first = admin.save_snapshot("w", synth_state(SPACE, frames=2, players=1, seed=1)).snapshot
    before = blobs(app)
    assert before == 1, "the first save's state is counted"
    state = synth_state(SPACE, frames=3, players=2, seed=2)
    header = store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world="w", size=len(state)))
    messages = [header.SerializeToString(), store_pb2.SaveSnapshotRequest(chunk=state).SerializeToString(),
                BROKEN_TRAILER]
    with pytest.raises(grpc.RpcError) as err:
        channel.stream_unary("/multiverse.v1.Store/SaveSnapshot")(iter(messages), metadata=md, timeout=20)
    violation = bad_request(err.value)
    assert violation.field == "request"
    assert "send a serialized multiverse.v1.SaveSnapshotRequest" in violation.description
    assert admin.heads("w") == {"main": first.id}, "the head stays where it was"
    assert blobs(app) == before, "no new state"
    assert not any((app.settings.data_dir / "spool").glob("*.upload")), "the spooled upload is gone"


def test_an_undecodable_first_message_of_a_save_is_refused(served):
    _, admin, channel, md = served
    with pytest.raises(grpc.RpcError) as err:
        channel.stream_unary("/multiverse.v1.Store/SaveSnapshot")(iter([b"\xff"]), metadata=md, timeout=20)
    assert bad_request(err.value).field == "request"
    assert admin.heads("w") == {}
