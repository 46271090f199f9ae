"""What `--services` opens and serves: the chosen services' servicers, health names and reflection only; the parts
of the others not started (no rarity worker, no chain, no indexer); a clear error for a name that is no service;
a comma list of replicas parsed into gRPC's static round-robin target."""

from __future__ import annotations

import json
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from multiverse.app import App
from multiverse.cli.main import _parser
from multiverse.client.connect import RETRIED, resolve, service_config
from multiverse.config import Settings
from multiverse.errors import InvalidArgument
from multiverse.v1 import multiverse_pb2, multiverse_pb2_grpc
from services.server import build

STORE, MULTIVERSE, RARITY = "multiverse.v1.Store", "multiverse.v1.Multiverse", "multiverse.v1.Rarity"


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def _reflected(channel: grpc.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    reply = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    return {s.name for s in reply.list_services_response.service}


def test_store_alone_opens_no_rarity_and_serves_only_the_store(tmp_path):
    app = App.open(Settings.from_env({"MULTIVERSE_SERVICES": "store"}, data_dir=tmp_path, grpc_addr="127.0.0.1:0"))
    served = build(app, "127.0.0.1:0")
    served.server.start()
    try:
        assert app.settings.market is not None, "the market is configured: `store` alone must still not open it"
        assert app.rarity is None and app.market is None and app.services == ("store",)
        assert not {"rarity-worker", "market-indexer"} & _threads()
        with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            assert check(health_pb2.HealthCheckRequest(service=STORE)).status == health_pb2.HealthCheckResponse.SERVING
            assert check(health_pb2.HealthCheckRequest(service="")).status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as err:
                check(health_pb2.HealthCheckRequest(service=MULTIVERSE))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as err:
                multiverse_pb2_grpc.MultiverseStub(channel).ListOperators(multiverse_pb2.ListOperatorsRequest())
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert STORE in _reflected(channel) and not {MULTIVERSE, RARITY} & _reflected(channel)
            served.drain()  # what SIGTERM does first: every name NOT_SERVING
            for name in (STORE, ""):
                status = check(health_pb2.HealthCheckRequest(service=name)).status
                assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        served.server.stop(grace=None).wait()
        app.close()


def test_every_service_by_default_and_rarity_with_its_worker(tmp_path):
    app = App.open(Settings(data_dir=tmp_path, market=None))  # `up`: every service (no chain configured here)
    try:
        assert app.services == ("store", "multiverse", "rarity", "http")
        assert app.rarity is not None and "rarity-worker" in _threads()
        served = build(app, "127.0.0.1:0")
        served.server.stop(grace=None).wait()
        assert {STORE, MULTIVERSE, RARITY} <= set(served.names) and "multiverse.v1.Market" not in served.names
    finally:
        app.close()


def test_a_name_that_is_no_service_is_refused_naming_it():
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env({"MULTIVERSE_SERVICES": "store,stores"})
    assert err.value.field == "MULTIVERSE_SERVICES" and "stores" in err.value.message
    args = _parser().parse_args(["serve", "--services", "multiverse, store"])
    assert Settings.from_env({}, flags=vars(args)).services == ("store", "multiverse")
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env({}, flags=vars(_parser().parse_args(["serve", "--services", ""])))
    assert err.value.field == "--services"


def test_replicas_become_a_static_round_robin_target():
    assert resolve("localhost:50051").uri == "localhost:50051"  # one address: as it always was
    two = resolve("127.0.0.1:5001, 127.0.0.1:5002")
    assert (two.uri, two.replicas, two.authority) == ("ipv4:127.0.0.1:5001,127.0.0.1:5002", 2, "127.0.0.1:5001")
    assert resolve("[::1]:5001,[::1]:5002").uri == "ipv6:[::1]:5001,[::1]:5002"
    named = resolve("localhost:5001,127.0.0.1:5002")  # names are resolved once, here
    assert named.uri.startswith("ipv4:127.0.0.1:5001") and named.replicas == 2
    for bad in ("127.0.0.1:5001,", "127.0.0.1,127.0.0.1:2", "a:1,b:x"):
        with pytest.raises(InvalidArgument) as err:
            resolve(bad)
        assert err.value.field == "target"
    config = json.loads(service_config())
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    retried = {(n["service"], n["method"]) for n in config["methodConfig"][0]["name"]}
    assert ("multiverse.v1.Store", "LoadSnapshot") in retried and ("multiverse.v1.Store", "Heads") in retried
    assert not any(m in ("SaveSnapshot", "SaveChunks", "SaveChunksAtOnce", "CreateWorld", "RegisterSpace")
                   for _, m in retried)
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert set(RETRIED) == {"multiverse.v1.Store", "multiverse.v1.Multiverse", "multiverse.v1.Rarity",
                            "multiverse.v1.Market"}


def test_http_alone_reads_rarity_and_the_market_without_their_writers(tmp_path):
    env = {"MULTIVERSE_SERVICES": "http", "MULTIVERSE_CHAIN_RPC_LISTEN": "127.0.0.1:0"}
    app = App.open(Settings.from_env(env, data_dir=tmp_path))
    try:
        assert app.services == ("http",)
        assert app.rarity is not None and app.rarity.role == "reader"  # persisted indexes; never scores or saves
        assert app.market is not None and "market-indexer" not in _threads()  # the market process indexes
        served = build(app, "127.0.0.1:0")
        served.server.stop(grace=None).wait()
        assert served.names == ()  # health answers "" alone: the gRPC port is this process's probe
    finally:
        app.close()


def test_serve_http_alone_prints_the_gateway_url_and_serves_it(tmp_path):
    import httpx

    from tests.serve.procs import serve

    proc = serve(tmp_path, "http", "--http", "127.0.0.1:0")
    try:
        assert proc.http.startswith("http://127.0.0.1:")
        assert httpx.get(f"{proc.http}/api/spaces", timeout=10).json() == {"items": []}
    finally:
        code, seconds = proc.terminate()
        proc.kill()
    assert code == 0 and seconds < 10
