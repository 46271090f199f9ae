"""The Rarity gRPC service: decode the request, call the rarity service, encode the reply. Nothing else."""

from __future__ import annotations

import math

import numpy as np

from multiverse.errors import InvalidArgument
from multiverse.rarity.explain import Explanation, explain_stored
from multiverse.rarity.service import RarityService
from multiverse.rarity.types import KindStats, Neighbor, RarityScore, VectorId
from multiverse.rarity.visible import VisibleRarity
from multiverse.v1 import rarity_pb2, rarity_pb2_grpc
from services.auth import caller
from services.errors import wire_fields
from services.idle import StreamClock

_DTYPES = {"float32": "<f4", "float16": "<f2", "float64": "<f8", "uint8": "u1", "uint16": "<u2", "int32": "<i4",
           "int64": "<i8", "bfloat16": "<u2"}
MAX_VALUES = 1 << 24
END_REASON = "x-end-reason"  # trailing metadata: why a watch ended on the server's side
# the domain's argument names -> the request's fields, so that an error names what the caller sent
_TOP_RARE_FIELDS = {"cursor": "page_token", "limit": "page_size"}
_BY_ID_FIELDS = {"snapshot_id": "id.snapshot", "snapshot": "id.snapshot", "kind": "id.kind"}


class RarityServicer(rarity_pb2_grpc.RarityServicer):
    def __init__(self, rarity: RarityService, *, watch_idle_s: float = 300.0,
                 watch_max_s: float = 3600.0) -> None:
        self.rarity = rarity
        self.visible = VisibleRarity(rarity)  # what each caller may read of it (multiverse/rarity/visible.py)
        self.watch_idle_s, self.watch_max_s = watch_idle_s, watch_max_s

    def Score(self, request, context):
        space = self.rarity.engine(request.space).space
        scores = self.rarity.score(space, request.kind, vectors_from_pb(request.vectors, "vectors"))
        return rarity_pb2.ScoreResponse(scores=[score_to_pb(s, space) for s in scores])

    def TopRare(self, request, context):
        who = caller()
        space = self.rarity.engine(request.space).space
        with wire_fields(**_TOP_RARE_FIELDS):
            items, token = self.visible.top_rare(who, space, request.kind, tier=request.tier, world=request.world,
                                                 limit=request.page_size, cursor=request.page_token)
        return rarity_pb2.TopRareResponse(items=[score_to_pb(s, space) for s in items], next_page_token=token)

    def RarityOf(self, request, context):
        who = caller()
        vid = ref_from_pb(request.id, "id")
        with wire_fields(**_BY_ID_FIELDS):
            space, score = self.visible.rarity_of(who, vid)
            why = None if request.brief else explain_stored(self.visible, who, vid)
        reply = score_to_pb(score, space)
        if why is not None:
            reply.explanation.CopyFrom(explanation_to_pb(why))
        return reply

    def Neighbors(self, request, context):
        who = caller()
        which = request.WhichOneof("query")
        if which == "id":
            query = ref_from_pb(request.id, "id")
        elif which == "vector":
            query = vectors_from_pb(request.vector, "vector")
        else:
            raise InvalidArgument("query", "unset", "send either id (a stored vector) or vector (one ad hoc vector)")
        with wire_fields(**(_BY_ID_FIELDS if which == "id" else {"query": "vector"})):
            found = self.visible.neighbors(who, query, space=request.space, kind=request.kind, k=request.k,
                                           world=request.world)
        return rarity_pb2.NeighborsResponse(neighbors=[neighbor_to_pb(n) for n in found])

    def Stats(self, request, context):
        engine = self.rarity.engine(request.space)
        kinds = [stats_to_pb(s) for s in self.rarity.stats(engine.space).values()]
        return rarity_pb2.StatsResponse(space=engine.space, kinds=kinds, pending=self.rarity.pending,
                                        gpu=self.rarity.gpu)

    def WatchRare(self, request, context):
        who = caller()
        # Ends with OK once idle or old, so that no watch holds a worker for ever; clients call again. The reason
        # goes in the trailing metadata: gRPC drops an OK status's message.
        clock = StreamClock(self.watch_idle_s, self.watch_max_s)
        for space, score in self.visible.watch(who, request.space, request.kind, request.tier,
                                               stop=lambda: not context.is_active() or clock.expired() is not None):
            yield score_to_pb(score, space)
            clock.touch()
        reason = clock.expired()
        if reason is not None and context.is_active():
            context.set_trailing_metadata(((END_REASON, reason),))


def vectors_from_pb(m: rarity_pb2.Vectors, field: str) -> np.ndarray:
    """(shape[0], *shape[1:]) array of the message's raw little-endian bytes (bfloat16 widened to float32)."""
    dtype = _DTYPES.get(m.dtype or "float32")
    if dtype is None:
        raise InvalidArgument(f"{field}.dtype", m.dtype, f"use one of {', '.join(_DTYPES)}")
    shape = tuple(m.shape)
    if not shape or 0 in shape or math.prod(shape) > MAX_VALUES:
        raise InvalidArgument(f"{field}.shape", list(shape), f"give (n, values...) with n >= 1 and at most {MAX_VALUES} values")
    want = math.prod(shape) * np.dtype(dtype).itemsize
    if len(m.data) != want:
        raise InvalidArgument(f"{field}.data", f"{len(m.data)} bytes", f"shape {list(shape)} of {m.dtype or 'float32'} needs {want} bytes")
    x = np.frombuffer(m.data, dtype=dtype).reshape(shape)
    if m.dtype == "bfloat16":
        x = (x.astype(np.uint32) << 16).view(np.float32)
    return x


def ref_from_pb(m: rarity_pb2.VectorRef, field: str) -> VectorId:
    if not m.snapshot:
        raise InvalidArgument(f"{field}.snapshot", m.snapshot, "name the snapshot id the vector belongs to")
    return VectorId(m.snapshot, m.kind or "frame", int(m.index))


def ref_to_pb(v: VectorId) -> rarity_pb2.VectorRef:
    return rarity_pb2.VectorRef(snapshot=v.snapshot, kind=v.kind, index=v.index)


def score_to_pb(s: RarityScore, space: str) -> rarity_pb2.RarityScore:
    return rarity_pb2.RarityScore(
        id=ref_to_pb(s.id) if s.id is not None else None, space=space, world=s.world or "", score=s.score,
        percentile=s.percentile, tier=s.tier, knn_distance=s.knn_distance, local_ratio=s.local_ratio,
        reference_rarity=s.reference_rarity or 0.0, uncharted=s.uncharted, neighbors_used=s.neighbors_used,
        copies=s.copies, index_version=s.index_version, n=s.n, calibration_version=s.calibration_version,
        percentile_low=s.percentile_low, percentile_high=s.percentile_high, tier_uncertain=s.tier_uncertain,
    )


def explanation_to_pb(e: Explanation) -> rarity_pb2.Explanation:
    out = rarity_pb2.Explanation(
        neighbors=[neighbor_to_pb(n) for n in e.neighbors], basis=e.basis,
        dimensions=[rarity_pb2.Deviation(index=d.index, position=list(d.position), value=d.value, mean=d.mean,
                                         std=d.std, z=d.z) for d in e.dims],
    )
    if e.cells is not None:
        c = e.cells
        out.cells.CopyFrom(rarity_pb2.CellGrid(rows=c.rows, cols=c.cols, values=list(c.values),
                                               row_edges=list(c.row_edges), col_edges=list(c.col_edges)))
    return out


def neighbor_to_pb(n: Neighbor) -> rarity_pb2.Neighbor:
    return rarity_pb2.Neighbor(id=ref_to_pb(n.id), distance=n.distance, copies=n.copies)


def stats_to_pb(s: KindStats) -> rarity_pb2.KindStats:
    return rarity_pb2.KindStats(
        kind=s.kind, points=s.points, ids=s.ids, snapshots=s.snapshots, worlds=s.worlds, dim=s.dim,
        embedder=s.embedder, index_kind=s.index_kind, nlist=s.nlist, nprobe=s.nprobe,
        measured_recall=s.measured_recall or 0.0, index_version=s.index_version,
        calibration_version=s.calibration_version, calibrated_n=s.calibrated_n, backend=s.backend,
    )
