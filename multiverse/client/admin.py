"""The Admin service from Python: delete a world, prune old snapshots, collect the storage nothing keeps.

``Client`` (multiverse/client/client.py) inherits these methods; every one needs an admin key:

    with Client("localhost:50051", admin_key) as mv:
        mv.prune_snapshots(datetime(2025, 1, 1, tzinfo=UTC), world="w", dry_run=True)  # what would be pruned
        mv.delete_world("w")
        report = mv.collect_garbage(dry_run=True)  # counts and bytes per kind that would go
        report.chunks.bytes, report.packs.count

Records are never deleted (a pruned snapshot's load is FailedPrecondition); bytes go only when a collection sweeps
them, after its grace window (proto/multiverse/v1/admin.proto).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from multiverse.v1 import admin_pb2, admin_pb2_grpc


class AdminCalls:
    """Mixed into ``Client``: expects its ``_channel`` and ``_call_on`` (errors mapped once, there)."""

    _channel: Any

    def _a(self, method: str, request: Any) -> Any:
        """Call an Admin method with the client's key (the stub made on first use, on the client's channel)."""
        stub = getattr(self, "_admin_stub", None)
        if stub is None:
            stub = self._admin_stub = admin_pb2_grpc.AdminStub(self._channel)
        return self._call_on(stub, method, request)  # type: ignore[attr-defined]

    def delete_world(self, name: str) -> admin_pb2.PruneResult:
        """Hide world ``name`` for good (its heads go, its snapshots are pruned but what must stay)."""
        return self._a("DeleteWorld", admin_pb2.DeleteWorldRequest(name=name))

    def prune_snapshots(self, before: datetime | float, *, world: str = "",
                        dry_run: bool = False) -> admin_pb2.PruneResult:
        """Prune the snapshots created before ``before`` (a datetime, naive read as UTC, or seconds since the
        epoch), of ``world`` or of every world; ``dry_run``: count, change nothing."""
        stamp = Timestamp()
        if isinstance(before, datetime):
            stamp.FromDatetime(before)  # a naive datetime is taken as UTC
        else:
            stamp.FromNanoseconds(round(before * 1e9))
        return self._a("PruneSnapshots", admin_pb2.PruneSnapshotsRequest(before=stamp, world=world, dry_run=dry_run))

    def collect_garbage(self, grace_s: float | None = None, *,
                        dry_run: bool = False) -> admin_pb2.CollectGarbageResponse:
        """Sweep what nothing keeps and is older than ``grace_s`` seconds (None: the server's default, 1 h);
        ``dry_run``: report what would go (counts and bytes per kind), change nothing."""
        request = admin_pb2.CollectGarbageRequest(dry_run=dry_run)
        if grace_s is not None:
            request.grace_s = grace_s
        return self._a("CollectGarbage", request)
