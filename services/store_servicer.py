"""The Store gRPC service: decode the request, call the domain, encode the reply. Nothing else."""

from __future__ import annotations

from collections.abc import Iterator

from multiverse.chunks.cut import digests
from multiverse.errors import InvalidArgument
from multiverse.store.store import EndDigest, SaveRequest, Store, require_admin
from multiverse.store.visibility import Reads
from multiverse.v1 import store_pb2, store_pb2_grpc
from services.auth import caller
from services.convert import snapshot_to_pb, space_from_pb, space_to_pb, world_to_pb
from services.errors import wire_fields


class StoreServicer(store_pb2_grpc.StoreServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    def RegisterSpace(self, request, context):
        who = caller()
        require_admin(who, "register a latent space")  # before anything of the request is parsed
        space = space_from_pb(request.space, default_max_players=self.store.limits.max_players)
        return space_to_pb(self.store.register_space(who, space))

    def GetSpace(self, request, context):
        return space_to_pb(self.store.get_space(request.name))

    def ListSpaces(self, request, context):
        return store_pb2.ListSpacesResponse(spaces=[space_to_pb(s) for s in self.store.list_spaces()])

    def CreateWorld(self, request, context):
        who = caller()
        world = self.store.create_world(who, request.name, request.space, request.owner, request.description,
                                        request.visibility, list(request.readers))
        return world_to_pb(world)

    def GetWorld(self, request, context):
        reads = Reads(self.store, caller())
        return world_to_pb(reads.world(request.name), reads.heads(request.name))

    def ListWorlds(self, request, context):
        worlds, token = Reads(self.store, caller()).worlds(space=request.space, owner=request.owner,
                                                           after=request.page_token, limit=request.page_size)
        return store_pb2.ListWorldsResponse(worlds=[world_to_pb(w) for w in worlds], next_page_token=token)

    def SetWorldVisibility(self, request, context):
        who = caller()
        world = self.store.set_world_visibility(who, request.world, request.visibility, list(request.readers))
        return world_to_pb(world, Reads(self.store, who).heads(world.name))

    def SaveSnapshot(self, request_iterator, context):
        who = caller()
        record, created = self.store.save(who, _header(request_iterator), _chunks(request_iterator))
        return store_pb2.SaveSnapshotResponse(snapshot=snapshot_to_pb(record), created=created)

    def FindMissingChunks(self, request, context):
        missing = self.store.find_missing_chunks(caller(), request.addresses)
        return store_pb2.FindMissingChunksResponse(missing=missing)

    def SaveChunks(self, request_iterator, context):
        who = caller()
        req = _header(request_iterator, "then the manifest, then the chunks")
        second = next(request_iterator, None)
        if second is None or second.WhichOneof("msg") != "manifest":
            raise InvalidArgument("manifest", "missing", "send the ChunkManifest as the second message, after the header")
        m = second.manifest  # decoded by the store once the caller may write the world
        record, created = self.store.save_chunks(who, req, (m.size, m.addresses, m.lengths), _sent(request_iterator))
        return store_pb2.SaveSnapshotResponse(snapshot=snapshot_to_pb(record), created=created)

    def SaveChunksAtOnce(self, request, context):
        who = caller()
        if not request.HasField("header"):
            raise InvalidArgument("header", "missing", "set the SaveHeader, the manifest and the chunks the server lacks")
        if not request.HasField("manifest"):
            raise InvalidArgument("manifest", "missing", "set the ChunkManifest beside the header")
        m = request.manifest  # decoded by the store once the caller may write the world
        record, created = self.store.save_chunks(who, _request(request.header), (m.size, m.addresses, m.lengths),
                                                 ((c.index, c.data) for c in request.chunks))
        return store_pb2.SaveSnapshotResponse(snapshot=snapshot_to_pb(record), created=created)

    def LoadSnapshot(self, request, context):
        loaded = Reads(self.store, caller()).load(request.ref, request.chunk_size)
        header = store_pb2.LoadHeader(snapshot=snapshot_to_pb(loaded.record), size=loaded.size)
        if loaded.manifest is None:  # stored whole before chunking: the sha256 of its bytes
            header.sha256 = loaded.record.state
        else:
            m = loaded.manifest
            header.manifest.CopyFrom(store_pb2.ChunkManifest(
                size=m.size, addresses=digests(m.addresses), lengths=m.lengths))
        yield store_pb2.LoadSnapshotResponse(header=header)
        for chunk in loaded.chunks:
            yield store_pb2.LoadSnapshotResponse(chunk=chunk)

    def GetSnapshot(self, request, context):
        return snapshot_to_pb(Reads(self.store, caller()).snapshot(request.ref))

    def Log(self, request, context):
        reads = Reads(self.store, caller())
        with wire_fields(cursor="page_token"):
            page, cursor = reads.log(request.ref, limit=request.page_size, cursor=request.page_token)
        return store_pb2.LogResponse(snapshots=[snapshot_to_pb(r) for r in page], next_page_token=cursor)

    def Heads(self, request, context):
        return store_pb2.HeadsResponse(heads=Reads(self.store, caller()).heads(request.world))

    def CreateApiKey(self, request, context):
        who = caller()
        role = request.role or "server"
        key_id, token = self.store.create_api_key(who, request.principal, role)
        return store_pb2.CreateApiKeyResponse(key_id=key_id, token=token, principal=request.principal, role=role)

    def WhoAmI(self, request, context):
        who = caller()
        return store_pb2.WhoAmIResponse(principal=who.name, role=who.role, key_id=who.key_id)


def _header(requests: Iterator, then: str = "then the chunks") -> SaveRequest:
    first = next(requests, None)
    if first is None or first.WhichOneof("msg") != "header":
        raise InvalidArgument("header", "missing", f"send a SaveHeader as the first message, {then}")
    return _request(first.header)


def _request(h: store_pb2.SaveHeader) -> SaveRequest:
    return SaveRequest(world=h.world, size=h.size, head=h.head or "main", expected_parent=h.expected_parent,
                       idempotency_key=h.idempotency_key, sha256=h.sha256, labels=dict(h.labels))


def _sent(requests: Iterator[store_pb2.SaveChunksRequest]) -> Iterator[tuple[int, bytes]]:
    for i, message in enumerate(requests, start=2):
        kind = message.WhichOneof("msg")
        if kind == "chunk":
            yield message.chunk.index, message.chunk.data
        elif kind == "batch":
            for chunk in message.batch.chunks:
                yield chunk.index, chunk.data
        else:
            raise InvalidArgument(f"messages[{i}]", kind,
                                  "send the header, then the manifest, once each; then only chunks (or batches)")


def _chunks(requests: Iterator[store_pb2.SaveSnapshotRequest]) -> Iterator[bytes | EndDigest]:
    for i, message in enumerate(requests, start=1):
        kind = message.WhichOneof("msg")
        if kind == "chunk":
            yield message.chunk
        elif kind == "sha256":
            yield EndDigest(message.sha256)
        else:
            raise InvalidArgument(f"messages[{i}]", kind, "send the header once, first; then chunks; then optionally the sha256")
