"""No crash from nested JSON (issue 12, item 2), against `multiverse up` in a subprocess with the market on (so
py_ecc, which raised the recursion limit to 100,000, is imported): JSON nested 200,000 deep on every gRPC entry
point that parses JSON gets INVALID_ARGUMENT naming its field (or PERMISSION_DENIED first, for a key that may not
make the call), and the server stays up. A segfault here would kill only the subprocess, not pytest.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from multiverse.client import Client
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from multiverse.v1 import common_pb2, multiverse_pb2, multiverse_pb2_grpc, rarity_pb2, rarity_pb2_grpc, store_pb2, store_pb2_grpc
from tests.reliability.test_inputs import auth, refused

ROOT = Path(__file__).resolve().parents[2]
SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)
DEEP = "[" * 200_000  # past the C stack of a thread at a recursion limit of 100,000


class Served:
    """`multiverse up --no-demo --data D --grpc 127.0.0.1:0`: the global options after the subcommand (item 6)."""

    def __init__(self, data: Path) -> None:
        env = {**os.environ, "MULTIVERSE_CHAIN_RPC_LISTEN": "127.0.0.1:0", "MULTIVERSE_MARKET": "on"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "multiverse.cli", "up", "--no-demo", "--data", str(data), "--grpc", "127.0.0.1:0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            self.lines.append(line)
            if match := re.match(r"gRPC\s+(\S+)", line):
                self.address = match.group(1)
                threading.Thread(target=self._drain, daemon=True).start()
                break
            if not line and self.proc.poll() is not None:
                break
        if not hasattr(self, "address"):
            self.proc.kill()
            pytest.fail("multiverse up did not start:\n" + "".join(self.lines))
        self.token = (data / "admin.key").read_text().strip()
        self.channel = grpc.insecure_channel(self.address, options=[("grpc.max_send_message_length", 8 << 20)])

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def alive(self) -> None:
        """The process still runs and answers a health check."""
        assert self.proc.poll() is None, f"the server died (exit {self.proc.returncode}):\n" + "".join(self.lines[-40:])
        reply = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

    def stop(self) -> None:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = Served(tmp_path_factory.mktemp("inputs") / "data")
    try:
        with Client(server.address, server.token) as admin:
            admin.register_space("demo", SPACE.frame_shape, "float16", 8)
            admin.create_world("w1", "demo")
            admin.create_world("w2", "demo")
            admin.save_snapshot("w1", synth_state(SPACE, frames=4, players=1, seed=1))
            admin.save_snapshot("w2", synth_state(SPACE, frames=4, players=1, seed=2))
            server.server_key = admin.create_api_key("alpha").token
        yield server
    finally:
        server.stop()


def _state(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def _deep_players() -> bytes:
    meta = {"format": "multiverse.state/1", "space": "demo", "players": DEEP, "timeline": "[]"}
    tensors = {"frames": {"dtype": "F16", "shape": [1, 4, 3, 2], "data_offsets": [0, 48]},
               "players": {"dtype": "F32", "shape": [0, 8], "data_offsets": [48, 48]}}
    header = json.dumps({"__metadata__": meta, **tensors}).encode()
    return _state(header) + b"\0" * 48


def _save(served, data: bytes):
    messages = [store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(world="w1", size=len(data)))]
    messages += [store_pb2.SaveSnapshotRequest(chunk=data[i:i + (1 << 20)]) for i in range(0, len(data), 1 << 20)]
    return store_pb2_grpc.StoreStub(served.channel).SaveSnapshot(iter(messages), metadata=auth(served.token), timeout=60)


def _cross(**kw):
    return multiverse_pb2.CrossRequest(parents=["w1", "w2"], name="child", **kw)


ENTRY_POINTS = {
    "SaveSnapshot header": (lambda s: _save(s, _state(DEEP.encode())), "state.header"),
    "SaveSnapshot players": (lambda s: _save(s, _deep_players()), "state.__metadata__.players"),
    "RegisterSpace reference_json": (
        lambda s: store_pb2_grpc.StoreStub(s.channel).RegisterSpace(store_pb2.RegisterSpaceRequest(
            space=common_pb2.LatentSpace(name="deep", frame_shape=[2], dtype="float32", player_dim=1,
                                         reference_json=DEEP)), metadata=auth(s.token), timeout=60),
        "space.reference_json"),
    "CrossWorlds params_json": (
        lambda s: list(multiverse_pb2_grpc.MultiverseStub(s.channel).CrossWorlds(
            _cross(op="linear", params_json=DEEP), metadata=auth(s.token), timeout=60)), "params_json"),
    "CrossWorlds pipeline_json": (
        lambda s: list(multiverse_pb2_grpc.MultiverseStub(s.channel).CrossWorlds(
            _cross(pipeline_json=DEEP), metadata=auth(s.token), timeout=60)), "pipeline_json"),
    "PreviewCross params_json": (
        lambda s: multiverse_pb2_grpc.MultiverseStub(s.channel).PreviewCross(
            _cross(op="linear", params_json=DEEP), metadata=auth(s.token), timeout=60), "params_json"),
    "PreviewCross pipeline_json": (
        lambda s: multiverse_pb2_grpc.MultiverseStub(s.channel).PreviewCross(
            _cross(pipeline_json=DEEP), metadata=auth(s.token), timeout=60), "pipeline_json"),
    "Log page_token": (
        lambda s: store_pb2_grpc.StoreStub(s.channel).Log(store_pb2.LogRequest(
            ref="w1", page_token=base64.urlsafe_b64encode(DEEP.encode()).decode()), metadata=auth(s.token), timeout=60),
        "page_token"),
    "TopRare page_token": (
        lambda s: rarity_pb2_grpc.RarityStub(s.channel).TopRare(rarity_pb2.TopRareRequest(
            space="demo", page_token=base64.urlsafe_b64encode(DEEP.encode()).decode()), metadata=auth(s.token),
            timeout=60),
        "page_token"),
}


@pytest.mark.slow
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_deeply_nested_json_is_invalid_argument_and_the_server_stays_up(served, entry):
    call, field = ENTRY_POINTS[entry]
    served.alive()
    got, err = refused(lambda: call(served))
    assert got == field, err.details()
    served.alive()


@pytest.mark.slow
@pytest.mark.parametrize("rpc", ["CrossWorlds", "PreviewCross"])
def test_a_server_key_is_refused_before_its_deep_json_is_parsed(served, rpc):
    stub = multiverse_pb2_grpc.MultiverseStub(served.channel)
    request = _cross(op="linear", params_json=DEEP)

    def call():
        reply = getattr(stub, rpc)(request, metadata=auth(served.server_key), timeout=60)
        return list(reply) if rpc == "CrossWorlds" else reply

    refused(call, grpc.StatusCode.PERMISSION_DENIED)
    served.alive()


def test_the_recursion_limit_is_sane_after_the_market_stack_is_imported():
    """py_ecc's 100,000 is undone (py-evm's 12,288 for nested EVM calls stays): JSON nested 200,000 deep, parsed
    raw in a thread, raises RecursionError instead of overflowing the thread's C stack."""
    script = (
        "import json, sys, threading\n"
        "import multiverse.market.wiring, multiverse.chain.memory, eth_tester, eth_account\n"
        "print(sys.getrecursionlimit(), flush=True)\n"
        "def parse():\n"
        "    try:\n"
        f"        json.loads('[' * {len(DEEP)})\n"
        "    except RecursionError:\n"
        "        print('RecursionError', flush=True)\n"
        "t = threading.Thread(target=parse)\n"
        "t.start()\n"
        "t.join()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    limit, outcome = done.stdout.split()
    assert int(limit) <= 12_288 and outcome == "RecursionError"


@pytest.mark.slow
def test_market_numbers_and_ids_that_int_refuses_are_invalid_argument(served):
    from multiverse.v1 import market_pb2, market_pb2_grpc

    stub = market_pb2_grpc.MarketStub(served.channel)
    field, _ = refused(lambda: stub.PrepareListing(market_pb2.PrepareListingRequest(token_id="ab" * 32, price="\u00b2"),
                                                   metadata=auth(served.token), timeout=30))
    assert field == "price"
    listing = market_pb2.MarketListing(token_id="zz" * 32, price="1", expiry="1")
    field, _ = refused(lambda: stub.SubmitListing(market_pb2.SubmitListingRequest(listing=listing),
                                                  metadata=auth(served.token), timeout=30))
    assert field == "listing.token_id"
    served.alive()
