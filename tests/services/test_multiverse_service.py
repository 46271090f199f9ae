"""The Multiverse service over real gRPC: crossing worlds, previews, operators, every refusal, cancellation, CLI."""

from __future__ import annotations

import json
import threading
import time

import grpc
import pytest
import torch
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import merge_kernels as mk
from multiverse import errors
from multiverse.cli import main as cli
from multiverse.state.format import decode_state
from multiverse.v1 import multiverse_pb2, multiverse_pb2_grpc
from tests.crossing.lab import diverged, fork, frames, player, state, vectors

BIG = (16, 18, 32)  # Oasis-like frames: 18 KB each in float16


def lineage(stack):
    """a: base -> a1; b: fork of base -> b1 (through the metadata port: there is no fork RPC)."""
    for w in ("a", "b"):
        stack.admin.create_world(w, "demo")
    x = frames(1)
    base = stack.admin.save_snapshot("a", state(x, [player(1)], vectors(1, 1))).snapshot
    stack.admin.save_snapshot("a", state(diverged(x, 2), [player(1, XpLevel=6)], vectors(2, 1)), expected_parent=base.id)
    fork(stack.app, "b", state(diverged(x, 3), [player(1, XpLevel=9)], vectors(3, 1)), stack.app.meta.get_snapshot(base.id))
    return base


def nothing_new(stack, blobs: set[str], world: str) -> None:
    """No world ``world``, and every blob added since ``blobs`` is referenced by no snapshot."""
    with pytest.raises(errors.NotFound):
        stack.admin.get_world(world)
    for digest in set(stack.app.blobs.digests()) - blobs:
        assert stack.app.meta.snapshots_with_state(digest) == []


def crosses_done(timeout: float = 60.0) -> None:
    """Wait until the server's cross threads have finished (a cancelled cross stops at its next check)."""
    deadline = time.monotonic() + timeout
    while any(t.name == "cross" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a cross thread is still running"
        time.sleep(0.01)


def test_cross_three_worlds_with_ties_against_the_found_base(stack):
    base = lineage(stack)
    seen: list[tuple[str, float]] = []
    r = stack.admin.cross(["a", "b@main"], name="child", op="ties", params={"density": 0.5}, seed=9,
                          player_policy="max", progress=lambda s, f: seen.append((s, f)))
    assert r.created and r.world.name == "child" and r.world.space == "demo" and r.world.owner == "admin"
    assert [s for s, _ in seen][:2] == ["resolve", "load"] and "commit" in [s for s, _ in seen]
    assert [f for _, f in seen] == sorted(f for _, f in seen)
    a, b = stack.admin.get_snapshot("a"), stack.admin.get_snapshot("b")
    snap = r.snapshot
    assert list(snap.parents) == [a.id, b.id] and snap.generation == 3 and snap.world == "child"
    prov = json.loads(snap.provenance_json)
    assert prov["base"] == base.id == stack.app.meta.lowest_common_ancestors(a.id, b.id)[0]
    assert prov["recipe"]["seed"] == 9 and prov["recipe"]["pipeline"]["steps"][0]["op"] == "ties"
    assert prov["recipe"]["code_version"].startswith("multiverse ")
    snap_loaded, data = stack.admin.load_snapshot("child")
    assert snap_loaded.id == snap.id and snap_loaded.state_sha256 == snap.state_sha256
    tensors, info = decode_state(data)
    parents = [decode_state(stack.admin.load_snapshot(ref)[1])[0]["frames"] for ref in ("a", "b", base.id)]
    want = mk.apply("ties", parents[:2], base=parents[2], params={"density": 0.5}, seed=9)
    assert torch.equal(tensors["frames"], want)
    assert info.players[0]["stats"]["XpLevel"] == 9  # changed on both sides: max
    stats = json.loads(r.stats.json)
    assert r.stats.norm_z == stats["norm_z"] and list(r.stats.parent_share) == stats["parent_share"]
    assert abs(r.stats.norm_ratio - 1) < 0.5 and len(r.stats.parent_share) == 2


def test_preview_computes_the_same_state_and_stores_nothing(stack):
    base = lineage(stack)
    blobs = set(stack.app.blobs.digests())
    p = stack.admin.preview_cross(["a", "b"], name="later", op="slerp", params={"t": 0.3}, seed=2)
    assert p.base == base.id and p.frame_count == 6 and p.player_count == 1 and len(p.state_sha256) == 64
    assert set(stack.app.blobs.digests()) == blobs
    with pytest.raises(errors.NotFound):
        stack.admin.get_world("later")
    r = stack.admin.cross(["a", "b"], name="later", op="slerp", params={"t": 0.3}, seed=2)
    assert r.snapshot.state_sha256 == p.state_sha256 and r.recipe_sha256 == p.recipe_sha256
    assert json.loads(r.stats.json) == json.loads(p.stats.json)


def test_same_recipe_twice_one_state_and_a_repeat_stores_nothing(stack):
    lineage(stack)
    one = stack.admin.cross(["a", "b"], name="one", op="crossover_kpoint", params={"points": [2]}, seed=1)
    two = stack.admin.cross(["a", "b"], name="two", op="crossover_kpoint", params={"points": [2]}, seed=1)
    assert one.snapshot.state_sha256 == two.snapshot.state_sha256 and one.snapshot.id != two.snapshot.id
    blobs = sorted(stack.app.blobs.digests())
    again = stack.admin.cross(["a", "b"], name="one", op="crossover_kpoint", params={"points": [2]}, seed=1)
    assert not again.created and again.snapshot.id == one.snapshot.id and sorted(stack.app.blobs.digests()) == blobs
    with pytest.raises(errors.AlreadyExists) as e:
        stack.admin.cross(["a", "b"], name="one", op="crossover_kpoint", params={"points": [3]}, seed=1)
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS and "choose another name" in e.value.message


def test_list_operators(stack):
    ops = {o.name: o for o in stack.server.list_operators()}  # any key may list them
    assert set(mk.operator_names()) == set(ops)
    ties = ops["ties"]
    assert ties.base == "required" and ties.family and ties.summary and ties.min_parents == mk.get_operator("ties").min_parents
    density = next(p for p in ties.params if p.name == "density")
    assert json.loads(density.default_json) == 0.2 and density.allowed == "(0, 1]" and density.doc
    assert ops["crossover_kpoint"].selection and ops["slerp"].base == "unused"


def status_of(stack, request, key=None):
    """The rich status of a CrossWorlds call that fails."""
    channel = grpc.insecure_channel(stack.address)
    stub = multiverse_pb2_grpc.MultiverseStub(channel)
    token = key or stack.app.settings.data_dir.joinpath("admin.key").read_text().strip()
    try:
        with pytest.raises(grpc.RpcError) as e:
            list(stub.CrossWorlds(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30))
        return e.value.code(), e.value.details(), rpc_status.from_call(e.value)
    finally:
        channel.close()


def field_violations(status) -> list[str]:
    out = []
    for packed in status.details:
        bad = error_details_pb2.BadRequest()
        if packed.Is(bad.DESCRIPTOR):
            packed.Unpack(bad)
            out += [v.field for v in bad.field_violations]
    return out


def test_every_refusal_has_its_status(stack):
    lineage(stack)
    stack.admin.create_world("lonely", "demo")
    stack.admin.save_snapshot("lonely", state(frames(7)))
    stack.admin.register_space("other", (4, 3, 2), "float16", 8)
    stack.admin.create_world("elsewhere", "other")
    stack.admin.save_snapshot("elsewhere", state(frames(8), space=type("S", (), {"name": "other", "player_dim": 8})()))
    blobs, worlds = set(stack.app.blobs.digests()), [w.name for w in stack.app.meta.list_worlds()]

    def req(parents, op="slerp", **kw):
        return multiverse_pb2.CrossRequest(parents=parents, op=op, name="nope", **kw)

    server_key = stack.admin.create_api_key("beta").token
    code, msg, _ = status_of(stack, req(["a", "b"]), key=server_key)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "only an admin key" in msg
    code, msg, _ = status_of(stack, req(["a", "elsewhere"]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "'demo'" in msg and "'other'" in msg
    code, msg, _ = status_of(stack, req(["a", "lonely"], op="ties"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "explicit base" in msg and "two-way operator" in msg
    code, msg, st = status_of(stack, req(["a", "b"], op="ties", params_json='{"density": 1.5}'))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "density=1.5" in msg
    assert field_violations(st) == ["pipeline.steps[0].density"]
    code, msg, st = status_of(stack, req(["a"] * 9))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "2 to 8" in msg and field_violations(st) == ["parents"]
    code, msg, st = status_of(stack, req(["a", "b"], params_json="[1]"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and field_violations(st) == ["params_json"]
    code, msg, _ = status_of(stack, req(["a", "missing"]))
    assert code == grpc.StatusCode.NOT_FOUND
    assert set(stack.app.blobs.digests()) == blobs and [w.name for w in stack.app.meta.list_worlds()] == worlds


@pytest.fixture
def big(stack):
    """Two 3.7 MB parents (200 Oasis-like frames each) sharing nothing: a cross that takes a while."""
    stack.admin.register_space("big", BIG, "float16", 8)
    for i, w in enumerate(("big1", "big2")):
        stack.admin.create_world(w, "big")
        stack.admin.save_snapshot(w, state(frames(i, 200, BIG), space=type("S", (), {"name": "big", "player_dim": 8})()))
    return stack


PIPE = {"steps": [{"op": "task_arithmetic", "params": {}}, {"op": "mutate_gaussian", "params": {"sigma": 0.01}},
                  {"op": "mutate_gaussian", "params": {"sigma": 0.01}}]}


def test_a_cancelled_cross_leaves_nothing_behind(big):
    stack = big
    blobs = set(stack.app.blobs.digests())
    channel = grpc.insecure_channel(stack.address)
    token = stack.app.settings.data_dir.joinpath("admin.key").read_text().strip()
    request = multiverse_pb2.CrossRequest(parents=["big1", "big2"], pipeline_json=json.dumps(PIPE), base="big1",
                                          name="gone")
    call = multiverse_pb2_grpc.MultiverseStub(channel).CrossWorlds(
        request, metadata=(("authorization", f"Bearer {token}"),))
    first = next(call)
    assert first.progress.stage == "resolve"
    call.cancel()
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    channel.close()
    crosses_done()
    nothing_new(stack, blobs, "gone")


def test_a_cross_past_its_deadline_leaves_nothing_behind(big):
    stack = big
    blobs = set(stack.app.blobs.digests())
    hurried = stack.client(stack.app.settings.data_dir.joinpath("admin.key").read_text().strip())
    hurried.timeout = 0.05
    with pytest.raises(errors.MultiverseError) as e:
        hurried.cross(["big1", "big2"], name="late", pipeline=PIPE, base="big1")
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    hurried.close()
    crosses_done()
    nothing_new(stack, blobs, "late")
    # with time to finish, the same cross succeeds
    assert stack.admin.cross(["big1", "big2"], name="late", pipeline=PIPE, base="big1").created


def test_cli_cross_and_operators(stack, capsys):
    lineage(stack)
    args = ["--grpc", stack.address, "--data", str(stack.data)]
    assert cli([*args, "cross", "a", "b", "--op", "slerp", "--param", "t=0.3", "--seed", "4", "--name", "cli-kid"]) == 0
    out = capsys.readouterr().out.splitlines()
    r = stack.admin.get_snapshot("cli-kid")
    assert out[0].startswith("world cli-kid (space demo)")
    assert f"snapshot {r.id}" in out and f"state {r.state_sha256}" in out
    stats = json.loads(next(line for line in out if line.startswith("stats "))[6:])
    assert {"norm_z", "norm_ratio", "channel_mean_divergence", "channel_std_divergence", "parent_share"} <= set(stats)
    assert cli([*args, "cross", "a", "b", "--op", "ties", "--param", "density=2", "--name", "bad"]) == 1
    err = capsys.readouterr().err
    assert "density=2" in err and "INVALID_ARGUMENT" in err
    assert cli([*args, "operators"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in mk.operator_names()) and "density" in listed
