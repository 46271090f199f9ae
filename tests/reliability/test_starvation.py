"""No starvation (issue 12, item 4): idle streams, whoever opens them, never stop health checks and unary calls
from answering; streams beyond their limits are refused with RESOURCE_EXHAUSTED naming the limit; idle watches
end; stalled uploads and stalled readers are cut and hold nothing. Against a real in-process server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from multiverse import errors
from multiverse.app import App
from multiverse.client import Client
from multiverse.config import Limits, Settings
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.store.auth import ensure_admin_key
from multiverse.v1 import rarity_pb2, rarity_pb2_grpc, store_pb2, store_pb2_grpc
from services.idle import StreamClock
from services.limits import Gate, RpcLimits
from services.rarity_servicer import END_REASON
from services.server import build_server

WORKERS = 16  # the pool size of the original report: 16 idle watches took every thread
SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)


@dataclass
class Served:
    app: App
    address: str
    admin: Client
    keys: dict[str, str] = field(default_factory=dict)  # principal -> token
    channel: grpc.Channel | None = None

    def key(self, principal: str) -> str:
        if principal not in self.keys:
            self.keys[principal] = self.admin.create_api_key(principal).token
        return self.keys[principal]

    def watch(self, token: str | None) -> grpc.Future:
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        return rarity_pb2_grpc.RarityStub(self.channel).WatchRare(rarity_pb2.WatchRareRequest(), metadata=metadata,
                                                                  timeout=60)

    def health_within(self, seconds: float) -> float:
        """Seconds an unauthenticated health check took; fails when it takes longer than ``seconds``."""
        t0 = time.monotonic()
        reply = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=seconds)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        return time.monotonic() - t0

    def unary_within(self, token: str, seconds: float) -> str:
        stub = store_pb2_grpc.StoreStub(self.channel)
        return stub.WhoAmI(store_pb2.WhoAmIRequest(), metadata=(("authorization", f"Bearer {token}"),),
                           timeout=seconds).principal


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., Served]]:
    running: list[tuple[grpc.Server, App, Served]] = []

    def start(**knobs) -> Served:
        settings = Settings(data_dir=tmp_path / f"data{len(running)}", grpc_addr="127.0.0.1:0",
                            limits=Limits(max_state_bytes=64 << 20, max_frames=4096), **{"workers": WORKERS, **knobs})
        app = App.open(settings)
        server, port = build_server(app, settings.grpc_addr)
        server.start()
        address = f"127.0.0.1:{port}"
        served = Served(app, address, Client(address, ensure_admin_key(app.meta, settings.data_dir)))
        served.channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 4 << 20)])
        served.admin.register_space("demo", SPACE.frame_shape, SPACE.dtype, SPACE.player_dim, max_players=8)
        running.append((server, app, served))
        return served

    yield start
    for server, app, served in running:
        served.channel.close()
        served.admin.close()
        server.stop(grace=None).wait()
        app.close()


def settle(calls: list[grpc.Future], refused: int, timeout: float = 10.0) -> tuple[list, list]:
    """(open, ended) once at least ``refused`` calls have ended and no more end for a moment."""
    deadline = time.monotonic() + timeout
    while sum(c.done() for c in calls) < refused and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    return [c for c in calls if not c.done()], [c for c in calls if c.done()]


def refusal_names_a_limit(call: grpc.Future, *limits: str) -> None:
    assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (call.code(), call.details())
    assert any(f"({name}=" in call.details() for name in limits), call.details()
    status = rpc_status.from_call(call)
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    assert info.reason == "ResourceExhausted" and info.metadata["limit"] in limits
    assert any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)  # retriable


@pytest.mark.parametrize("count", [16, 64])
def test_idle_watches_of_one_key_leave_health_and_unary_calls_answering(serve, count):
    served = serve()
    token = served.key("alpha")
    calls = [served.watch(token) for _ in range(count)]
    try:
        opened, ended = settle(calls, refused=count - 4)
        assert len(opened) == 4 and len(ended) == count - 4  # max_streams_per_key
        for call in ended:
            refusal_names_a_limit(call, "max_streams_per_key")
        assert served.health_within(1.0) < 1.0
        assert served.unary_within(token, 1.0) == "alpha"  # the same key's unary calls are not held back
    finally:
        for call in calls:
            call.cancel()


def test_idle_watches_of_many_keys_and_anonymous_floods_leave_health_answering(serve):
    served = serve()
    tokens = [served.key(f"server{i}") for i in range(8)]
    calls = {t: [served.watch(t) for _ in range(8)] for t in tokens}
    every = [c for cs in calls.values() for c in cs]
    max_streams = WORKERS // 2
    try:
        opened, ended = settle(every, refused=len(every) - max_streams)
        assert len(opened) == max_streams
        assert all(sum(not c.done() for c in cs) <= 4 for cs in calls.values())
        for call in ended:
            refusal_names_a_limit(call, "max_streams", "max_streams_per_key")
        late = served.watch(served.key("late"))  # a key with nothing open: the server-wide limit
        settle([late], refused=1)
        refusal_names_a_limit(late, "max_streams")
        anonymous = [served.watch(None) for _ in range(32)]
        _, gone = settle(anonymous, refused=32)
        assert {c.code() for c in gone} <= {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAUTHENTICATED}
        assert len(gone) == 32
        assert served.health_within(1.0) < 1.0
        assert served.unary_within(tokens[0], 1.0) == "server0"
    finally:
        for call in every:
            call.cancel()
    # Slots come back when clients go away: the same key can open its streams again.
    again = [served.watch(tokens[1]) for _ in range(4)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        opened, ended = settle(again, refused=0, timeout=0)
        if not ended:
            break
        again = [served.watch(tokens[1]) for _ in range(4)]
    try:
        assert len(opened) == 4, [c.details() for c in ended]
    finally:
        for call in again:
            call.cancel()


@pytest.mark.parametrize(("knobs", "limit"), [({"watch_idle_s": 1.0}, "watch_idle_s"),
                                                ({"watch_idle_s": 60.0, "watch_max_s": 1.5}, "watch_max_s")])
def test_an_idle_watch_ends_with_ok_and_says_why(serve, knobs, limit):
    served = serve(**knobs)
    call = served.watch(served.key("alpha"))
    t0 = time.monotonic()
    assert list(call) == []
    took = time.monotonic() - t0
    reason = dict(call.trailing_metadata())[END_REASON]  # an OK status carries no message
    assert call.code() == grpc.StatusCode.OK and limit in reason and "call again" in reason
    assert 0.8 < took < 5.0


@pytest.mark.parametrize("sent", ["header", "header and a chunk"])
def test_a_stalled_upload_is_cut_and_stores_nothing(serve, sent):
    served = serve(stream_idle_s=1.0)
    token = served.key("alpha")
    served.admin.create_world("w1", "demo", owner="alpha")
    data = synth_state(SPACE, frames=6, players=2, seed=1)
    release = threading.Event()

    def upload() -> Iterator[store_pb2.SaveSnapshotRequest]:
        yield store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world="w1", size=len(data), idempotency_key="k"))
        if sent != "header":
            yield store_pb2.SaveSnapshotRequest(chunk=data[:100])
        release.wait(30)  # then nothing

    stub = store_pb2_grpc.StoreStub(served.channel)
    t0 = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            stub.SaveSnapshot(upload(), metadata=(("authorization", f"Bearer {token}"),), timeout=15)
    finally:
        release.set()
    assert time.monotonic() - t0 < 5
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert "stream_idle_s=1" in caught.value.details() and "SaveSnapshot" in caught.value.details()
    assert served.admin.heads("w1") == {}
    assert list(served.app.blobs.digests()) == []
    assert list(served.app.settings.spool_dir.iterdir()) == []
    assert served.unary_within(token, 1.0) == "alpha"


def test_a_client_that_stops_reading_is_cut_and_its_slot_freed(serve):
    served = serve(stream_idle_s=1.0, max_streams_per_key=1)
    token = served.key("alpha")
    served.admin.register_space("wide", (64, 64, 16), "float32", 8, max_players=8)
    served.admin.create_world("w1", "wide", owner="alpha")
    data = synth_state(SpaceRecord("wide", (64, 64, 16), "float32", 8), frames=96, players=1, seed=2)  # 24 MiB
    Client(served.address, token).save_snapshot("w1", data)
    metadata = (("authorization", f"Bearer {token}"),)
    load = store_pb2_grpc.StoreStub(served.channel).LoadSnapshot(
        store_pb2.LoadSnapshotRequest(ref="w1", chunk_size=1 << 20), metadata=metadata, timeout=60)
    assert next(load).WhichOneof("msg") == "header"  # then the client reads nothing more
    held = served.watch(token)
    settle([held], refused=1, timeout=0.5)
    refusal_names_a_limit(held, "max_streams_per_key")  # the stalled load holds the key's only slot
    deadline, watch = time.monotonic() + 10, held
    while watch.done() and time.monotonic() < deadline:  # refused until the server cuts the load
        time.sleep(0.2)
        watch = served.watch(token)
        settle([watch], refused=1, timeout=0.2)
    try:
        assert not watch.done(), watch.details()  # the slot came back: the load was cut
    finally:
        watch.cancel()
    with pytest.raises(grpc.RpcError) as caught:  # what the client had buffered, then the end
        for _ in load:
            pass
    assert caught.value.code() == grpc.StatusCode.CANCELLED


def test_parallel_saves_past_the_key_limit_wait_their_turn(serve):
    """A game server uploading more states at once than its key may stream is not told no: the client waits
    for a free slot (RESOURCE_EXHAUSTED is retried with the same idempotency key) and every save lands once."""
    served = serve(max_streams_per_key=1)
    worlds = [f"w{i}" for i in range(6)]
    for world in worlds:
        served.admin.create_world(world, "demo")
    failures: list[BaseException] = []

    def save(world: str) -> None:
        try:
            for seed in range(3):
                served.admin.save_snapshot(world, synth_state(SPACE, frames=64, players=1, seed=seed))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=save, args=(w,)) for w in worlds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    assert all(len(list(served.admin.log(w))) == 3 for w in worlds)


def test_the_gate_counts_calls_streams_and_keys():
    gate = Gate(RpcLimits(workers=4, max_streams=2, max_streams_per_key=1, stream_idle_s=1.0))
    a = gate.enter(True, "a")
    with pytest.raises(errors.ResourceExhausted, match=r"max_streams_per_key=1"):
        gate.enter(True, "a")
    b = gate.enter(True, "b")
    with pytest.raises(errors.ResourceExhausted, match=r"max_streams=2"):
        gate.enter(True, "c")
    unary = [gate.enter(False, "a"), gate.enter(False, "")]
    with pytest.raises(errors.ResourceExhausted, match=r"workers=4"):
        gate.enter(False, "a")
    a.release()
    a.release()  # once only
    assert gate.calls == 3 and gate.streams == 1 and gate.refusal(True, "a") is None
    for t in [b, *unary]:
        t.release()
    assert (gate.calls, gate.streams, gate.streams_of("a"), gate.streams_of("b")) == (0, 0, 0, 0)


@pytest.mark.parametrize(("knobs", "field"), [({"workers": 1}, "workers"), ({"workers": 8, "max_streams": 8}, "max_streams"),
                                              ({"max_streams_per_key": 0}, "max_streams_per_key"),
                                              ({"stream_idle_s": 0.0}, "stream_idle_s")])
def test_bad_limits_are_refused_naming_the_setting(knobs, field):
    with pytest.raises(errors.InvalidArgument) as caught:
        RpcLimits.from_settings(Settings(**knobs))
    assert caught.value.field == field


def test_limits_from_the_environment():
    s = Settings.from_env({"MULTIVERSE_WORKERS": "24", "MULTIVERSE_MAX_STREAMS_PER_KEY": "2",
                           "MULTIVERSE_STREAM_IDLE_S": "7.5", "MULTIVERSE_MARKET": "off"})
    assert (s.workers, s.max_streams_per_key, s.stream_idle_s) == (24, 2, 7.5)
    assert RpcLimits.from_settings(s) == RpcLimits(workers=24, max_streams=12, max_streams_per_key=2, stream_idle_s=7.5)
    with pytest.raises(errors.InvalidArgument, match="MULTIVERSE_WATCH_IDLE_S"):
        Settings.from_env({"MULTIVERSE_WATCH_IDLE_S": "soon", "MULTIVERSE_MARKET": "off"})


def test_the_stream_clock():
    now = [0.0]
    clock = StreamClock(idle_s=10, max_s=25, now=lambda: now[0])
    now[0] = 9.9
    assert clock.expired() is None
    clock.touch()
    now[0] = 19.8
    assert clock.expired() is None
    now[0] = 20.0
    assert "watch_idle_s" in clock.expired()
    clock.touch()
    now[0] = 25.0
    assert "watch_max_s" in clock.expired()
