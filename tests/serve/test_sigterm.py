"""SIGTERM stops `multiverse serve` cleanly: health turns NOT_SERVING first (balancers drain), a save in flight
either completes within the grace (and loads back after a restart) or fails for its client (and is nowhere), the
process exits 0 within seconds, and a restarted process serves what was saved."""

from __future__ import annotations

import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from multiverse.cli.serve import STOP_GRACE_S
from multiverse.client import Client
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.v1 import store_pb2, store_pb2_grpc
from tests.serve.procs import serve

SPACE = SpaceRecord("demo", (16, 18, 32), "float16", 8)
STORE = "multiverse.v1.Store"
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def _upload(world: str, state: bytes, go_on: threading.Event, halfway: threading.Event):
    """A save's request stream that stops halfway until ``go_on`` is set."""
    yield store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world=world, size=len(state)))
    for i in range(0, len(state), 1 << 20):
        if i >= len(state) // 2 and not halfway.is_set():
            halfway.set()
            go_on.wait(30)
        yield store_pb2.SaveSnapshotRequest(chunk=state[i : i + (1 << 20)])


def test_sigterm_drains_finishes_or_fails_in_flight_saves_and_exits_0(tmp_path):
    data = tmp_path / "data"
    proc = serve(data, "store,multiverse")
    outcome: dict[str, object] = {}
    try:
        token = (data / "admin.key").read_text().strip()
        admin = Client(proc.address, token)
        admin.register_space("demo", SPACE.frame_shape, "float16", 8)
        kept = {"before": synth_state(SPACE, frames=40, players=2, seed=1)}
        for world in ("before", "quick", "slow"):
            admin.create_world(world, "demo")
        before_id = admin.save_snapshot("before", kept["before"]).snapshot.id
        quick, slow = (synth_state(SPACE, frames=300, players=2, seed=s) for s in (2, 3))  # ~5.5 MB each

        channel = grpc.insecure_channel(proc.address)
        stub, auth = store_pb2_grpc.StoreStub(channel), (("authorization", f"Bearer {token}"),)
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=STORE))
        assert next(watch).status == SERVING
        release_quick, release_slow = threading.Event(), threading.Event()
        half_quick, half_slow = threading.Event(), threading.Event()

        def save(name: str, state: bytes, go_on: threading.Event, halfway: threading.Event) -> None:
            try:
                outcome[name] = stub.SaveSnapshot(_upload(name, state, go_on, halfway), metadata=auth).snapshot.id
            except grpc.RpcError as exc:
                outcome[name] = exc.code()

        threads = [threading.Thread(target=save, args=("quick", quick, release_quick, half_quick)),
                   threading.Thread(target=save, args=("slow", slow, release_slow, half_slow))]
        for t in threads:
            t.start()
        assert half_quick.wait(30) and half_slow.wait(30), "the uploads never got halfway"

        stopping = threading.Thread(target=lambda: outcome.update(exit=proc.terminate()))
        stopping.start()
        assert next(watch).status == NOT_SERVING, "health must turn NOT_SERVING once SIGTERM arrives"
        release_quick.set()  # sends the rest at once: done well within the grace
        threads[0].join(30)
        stopping.join(30)
        release_slow.set()  # too late: the grace is over
        threads[1].join(30)
        watch.cancel()
        channel.close()
        admin.close()
    finally:
        proc.kill()
    code, seconds = outcome["exit"]
    assert code == 0 and seconds < STOP_GRACE_S + 5, (code, seconds, proc.log[-20:])
    assert isinstance(outcome["quick"], str), f"the quick save should have completed: {outcome['quick']}"
    assert isinstance(outcome["slow"], grpc.StatusCode), f"the slow save should have failed: {outcome['slow']}"

    again = serve(data, "store,multiverse")
    try:
        with Client(again.address, (data / "admin.key").read_text().strip()) as admin:
            assert admin.load_snapshot(before_id)[1] == kept["before"]
            assert admin.load_snapshot(outcome["quick"])[1] == quick
            assert admin.heads("quick") == {"main": outcome["quick"]}
            assert admin.heads("slow") == {}, "the failed save must leave nothing behind"
    finally:
        assert again.terminate()[0] == 0
