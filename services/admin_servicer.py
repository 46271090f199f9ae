"""The Admin gRPC service: decode the request, call the domain's housekeeping (multiverse/store/prune.py), encode
the reply. Only an admin key may act; the domain enforces it (a server key is PermissionDenied, nothing changed)."""

from __future__ import annotations

from multiverse.chunks.gc import DEFAULT_GRACE_S, KINDS, Collection
from multiverse.errors import InvalidArgument
from multiverse.store.prune import Housekeeping, Pruned
from multiverse.v1 import admin_pb2, admin_pb2_grpc
from services.auth import caller
from services.errors import wire_fields

NANOS = 1_000_000_000


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, house: Housekeeping) -> None:
        self.house = house

    def DeleteWorld(self, request, context):
        with wire_fields(world="name"):
            return pruned_to_pb(self.house.delete_world(caller(), request.name))

    def PruneSnapshots(self, request, context):
        before = request.before
        if not 0 <= before.nanos < NANOS:
            raise InvalidArgument("before.nanos", before.nanos, f"give nanoseconds from 0 to {NANOS - 1}")
        seconds = before.seconds + before.nanos / NANOS  # unset: 0, which the domain refuses naming `before`
        done = self.house.prune(caller(), seconds, request.world, dry_run=request.dry_run)
        return pruned_to_pb(done, request.dry_run)

    def CollectGarbage(self, request, context):
        grace = request.grace_s if request.HasField("grace_s") else DEFAULT_GRACE_S
        with wire_fields(grace="grace_s"):
            return collection_to_pb(self.house.collect(caller(), grace, dry_run=request.dry_run))


def pruned_to_pb(done: Pruned, dry_run: bool = False) -> admin_pb2.PruneResult:
    return admin_pb2.PruneResult(pruned=done.pruned, kept=done.kept, heads=done.heads, dry_run=dry_run)


def collection_to_pb(done: Collection) -> admin_pb2.CollectGarbageResponse:
    reply = admin_pb2.CollectGarbageResponse(
        dry_run=done.dry_run, grace_s=done.grace_s, kept_snapshots=done.kept_snapshots, kept_states=done.kept_states,
        live_chunks=done.live_chunks, held_packs=done.held_packs, held_bytes=done.held_bytes, seconds=done.seconds)
    for kind in KINDS:  # chunks, packs, manifests, whole: one field each
        getattr(reply, kind).CopyFrom(admin_pb2.Swept(count=done.swept[kind].count, bytes=done.swept[kind].bytes))
    return reply
