"""What the rarity engine takes and returns: its configuration, vector ids and frozen result records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from multiverse.errors import InvalidArgument
from multiverse.rarity.index import DEVICES, IndexSettings

KINDS = ("frame", "player")


class VectorId(NamedTuple):
    """A scored vector: row ``index`` of kind ``kind`` ("frame" | "player") in snapshot ``snapshot``."""

    snapshot: str
    kind: str
    index: int


@dataclass(frozen=True)
class RarityConfig:
    """How a space's rarity is computed. Built once at the edge; every field changes scores, so the config
    is stored with a persisted engine (but for ``threads`` and ``index.device``: where the work runs)."""

    k: int = 10  # the k of the k-th nearest neighbour distance
    floor_quantile: float = 0.2  # the density floor is the lrd of this sparsest share (score.rarity)
    embed_dim: int = 256  # vectors with more values are projected to this many
    embed_seed: int = 0
    index: IndexSettings = field(default_factory=IndexSettings)
    recalibrate_growth: float = 0.1  # refit the calibration once the population changed by this share
    threads: int = 0  # FAISS OpenMP threads (0: leave FAISS's default)

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 1000:
            raise InvalidArgument("k", self.k, "use 1 to 1000 neighbours (10 is the usual choice)")
        if not 0.0 <= self.floor_quantile < 1.0:
            raise InvalidArgument("floor_quantile", self.floor_quantile, "use a share in [0, 1), e.g. 0.2")
        if self.recalibrate_growth <= 0:
            raise InvalidArgument("recalibrate_growth", self.recalibrate_growth, "use a positive share, e.g. 0.1")
        if not 0.0 < self.index.target_recall <= 1.0:
            raise InvalidArgument("target_recall", self.index.target_recall, "use a recall in (0, 1]")
        if self.index.device not in DEVICES:
            raise InvalidArgument("device", self.index.device, f"use one of {', '.join(DEVICES)}")
        if self.index.exact_limit < 1:
            raise InvalidArgument("exact_limit", self.index.exact_limit, "use a positive number of points")

    def to_json(self) -> dict:
        s = self.index
        return {
            "k": self.k,
            "floor_quantile": self.floor_quantile,
            "embed_dim": self.embed_dim,
            "embed_seed": self.embed_seed,
            "recalibrate_growth": self.recalibrate_growth,
            "index": {name: getattr(s, name) for name in IndexSettings.__dataclass_fields__ if name != "device"},
        }

    @classmethod
    def from_json(cls, data: dict, *, threads: int = 0, device: str = "auto") -> RarityConfig:
        # "use_gpu" was stored before "device" replaced it; the device is the caller's, never the stored one
        index = {name: value for name, value in data["index"].items() if name not in ("use_gpu", "device")}
        return cls(
            k=int(data["k"]),
            floor_quantile=float(data["floor_quantile"]),
            embed_dim=int(data["embed_dim"]),
            embed_seed=int(data["embed_seed"]),
            recalibrate_growth=float(data["recalibrate_growth"]),
            index=IndexSettings(**index, device=device),
            threads=threads,
        )


@dataclass(frozen=True)
class RarityScore:
    """The rarity of one vector, with what it was computed against.

    ``score`` ranks (higher = rarer); ``percentile`` and ``tier`` place it in the calibrated population.
    ``knn_distance`` is the k-th nearest neighbour distance in the embedded space, ``local_ratio`` the LOF-like
    ratio (about 1 inside a uniform region), ``reference_rarity`` Han et al.'s Rarity Score (None when the
    vector lies in no reference ball: ``uncharted``). ``copies`` counts ids holding this exact vector (they
    share one point, so duplicates cannot fake density).

    ``percentile_low`` and ``percentile_high`` bound the percentile at ``calibrate.LEVEL`` (the calibration
    sample's size and the index's recall, ``Calibration.interval``); ``tier_uncertain`` when they fall in
    different tiers, so the tier may change as the population grows or the index is rebuilt."""

    id: VectorId | None
    score: float
    percentile: float
    tier: str
    knn_distance: float
    local_ratio: float
    reference_rarity: float | None
    uncharted: bool
    neighbors_used: int
    copies: int
    world: str | None
    index_version: str
    n: int
    calibration_version: str
    percentile_low: float = 0.0
    percentile_high: float = 100.0
    tier_uncertain: bool = False


@dataclass(frozen=True)
class Neighbor:
    id: VectorId  # the first id that holds this point (in the world asked for, if any)
    distance: float
    copies: int


@dataclass(frozen=True)
class AddResult:
    """What adding one batch did: the batch's scores in input order, and the ids of earlier vectors whose
    k-NN lists changed (their k-th distance shrank, so their scores moved)."""

    scores: tuple[RarityScore, ...]
    rescored: tuple[VectorId, ...]
    new_points: int  # distinct vectors the batch added (the rest were exact duplicates)
    index_version: str


@dataclass(frozen=True)
class KindStats:
    kind: str
    points: int  # distinct vectors
    ids: int  # ids (snapshot, kind, index) pointing at them
    snapshots: int
    worlds: int
    dim: int  # embedded dimension
    embedder: str
    index_kind: str  # "flat" | "ivf"
    nlist: int
    nprobe: int
    measured_recall: float | None
    index_version: str
    calibration_version: str
    calibrated_n: int
    backend: str = "faiss-cpu"  # what serves the index's searches: faiss-cpu, faiss-gpu, torch-cuda, torch-cpu
