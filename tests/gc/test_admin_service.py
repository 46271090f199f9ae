"""The Admin service through a real server (SQLite and PostgreSQL): only an admin key acts, bad input is refused
naming the field and changes nothing, and each dry run changes nothing and reports what the real run then does."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from multiverse import errors
from multiverse.v1 import admin_pb2, admin_pb2_grpc
from services.auth import API_KEY, access_of
from tests.gc.served import served  # noqa: F401 - the fixture
from tests.gc.world import window

KINDS = ("chunks", "packs", "manifests", "whole")


def swept(reply) -> dict[str, tuple[int, int]]:
    return {k: (getattr(reply, k).count, getattr(reply, k).bytes) for k in KINDS}


def test_admin_rides_with_the_store_and_is_declared(served):
    with grpc.insecure_channel(served.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="multiverse.v1.Admin"))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    for method in admin_pb2.DESCRIPTOR.services_by_name["Admin"].methods:
        assert access_of(f"/multiverse.v1.Admin/{method.name}") == API_KEY


def test_a_server_key_is_refused_and_changes_nothing(served):
    saved = served.game("a", 4)
    served.server.save_snapshot("a", window(100))  # the head moves on: the first saves are prunable
    before = served.stored()
    calls = {
        "delete": lambda: served.server.delete_world("a"),
        "prune": lambda: served.server.prune_snapshots(time.time(), world="a"),
        "prune dry run": lambda: served.server.prune_snapshots(time.time(), dry_run=True),
        "collect": lambda: served.server.collect_garbage(0.0),
        "collect dry run": lambda: served.server.collect_garbage(dry_run=True),
    }
    for name, call in calls.items():
        with pytest.raises(errors.PermissionDenied, match="only an admin key") as info:
            call()
        assert info.value.code == grpc.StatusCode.PERMISSION_DENIED, name
    assert served.stored() == before
    assert served.server.load_snapshot(saved[0][0])[1] == saved[0][1]


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(served):
    served.game("a", 3)
    before = served.stored()
    stub = admin_pb2_grpc.AdminStub(served.admin._channel)
    auth = (("authorization", f"Bearer {served.admin_key}"),)

    def refused(cls, field=None, **call):
        with pytest.raises(cls) as info:
            next(iter(call.values()))()
        if field is not None:
            assert info.value.field == field, info.value.message
        return info.value

    gone = refused(errors.InvalidArgument, "grace_s", grace=lambda: served.admin.collect_garbage(-1.0))
    assert "grace_s=-1" in gone.message and "use at least 0 seconds" in gone.message
    refused(errors.InvalidArgument, "grace_s", nan=lambda: served.admin.collect_garbage(float("nan"), dry_run=True))
    future = refused(errors.InvalidArgument, "before", future=lambda: served.admin.prune_snapshots(time.time() + 3600))
    assert "give a date in the past" in future.message
    unset = refused(errors.InvalidArgument, "before", unset=lambda: served.admin._call_on(
        stub, "PruneSnapshots", admin_pb2.PruneSnapshotsRequest(world="a")))
    assert "give a date" in unset.message
    bad_nanos = admin_pb2.PruneSnapshotsRequest(world="a")
    bad_nanos.before.seconds, bad_nanos.before.nanos = int(time.time()) - 10, -5
    refused(errors.InvalidArgument, "before.nanos", nanos=lambda: served.admin._call_on(stub, "PruneSnapshots", bad_nanos))
    missing = refused(errors.NotFound, prune=lambda: served.admin.prune_snapshots(time.time(), world="nope"))
    assert "'nope'" in missing.message
    assert "'nope'" in refused(errors.NotFound, delete=lambda: served.admin.delete_world("nope")).message
    refused(errors.InvalidArgument, "name", name=lambda: served.admin.delete_world("Bad Name!"))
    refused(errors.InvalidArgument, "world", world=lambda: served.admin.prune_snapshots(time.time(), world="Bad!"))
    assert served.stored() == before
    with pytest.raises(grpc.RpcError) as info:  # no credentials at all: refused before anything is read
        stub.CollectGarbage(admin_pb2.CollectGarbageRequest(dry_run=True))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stub.CollectGarbage(admin_pb2.CollectGarbageRequest(dry_run=True), metadata=auth).grace_s == 3600.0


def test_dry_runs_change_nothing_and_report_what_the_real_runs_do(served):
    saved = served.game("a", 6)
    kept = served.game("b", 2, first=6)  # frames 6-25, as a's windows (0-35, sliding by 4): those chunks stay
    time.sleep(0.01)
    cutoff = datetime.now(UTC)
    start = served.stored()
    dry = served.admin.prune_snapshots(cutoff, world="a", dry_run=True)
    assert (dry.pruned, dry.kept, dry.heads, dry.dry_run) == (5, 1, 0, True)  # a's head stays
    assert served.stored() == start
    real = served.admin.prune_snapshots(cutoff, world="a")
    assert (real.pruned, real.kept, real.dry_run) == (dry.pruned, dry.kept, False)

    pruned = served.stored()
    dry_gc = served.admin.collect_garbage(0.0, dry_run=True)
    assert dry_gc.dry_run and dry_gc.manifests.count == 5 and dry_gc.kept_snapshots == 3
    assert (dry_gc.chunks.count, dry_gc.chunks.bytes) == (6, 6 * 4096)  # frames 0-5: a's first saves' alone
    assert served.stored() == pruned
    real_gc = served.admin.collect_garbage(0.0)
    assert not real_gc.dry_run and swept(real_gc) == swept(dry_gc)
    assert (real_gc.kept_snapshots, real_gc.kept_states, real_gc.live_chunks) == \
        (dry_gc.kept_snapshots, dry_gc.kept_states, dry_gc.live_chunks)
    assert served.admin.load_snapshot(saved[-1][0])[1] == saved[-1][1]
    assert all(served.admin.load_snapshot(s)[1] == d for s, d in kept)
    with pytest.raises(errors.FailedPrecondition, match="was pruned at"):
        served.admin.load_snapshot(saved[0][0])

    dry_delete = served.admin.prune_snapshots(datetime.now(UTC), world="a", dry_run=True)
    assert (dry_delete.pruned, dry_delete.kept) == (0, 1)  # the head alone, which a prune never takes
    deleted = served.admin.delete_world("a")
    assert (deleted.pruned, deleted.kept, deleted.heads) == (1, 0, 1)
    with pytest.raises(errors.NotFound, match="'a' was deleted at"):
        served.admin.get_world("a")
    after = served.admin.collect_garbage(0.0)
    assert after.manifests.count == 1 and served.admin.collect_garbage(0.0, dry_run=True).chunks.count == 0
    assert all(served.admin.load_snapshot(s)[1] == d for s, d in kept)
