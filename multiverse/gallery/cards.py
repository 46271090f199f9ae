"""What the gallery shows, as frozen records with ``to_json()``: a vector's card, its neighbours, the distribution of
its space's scores, its lineage, a world's page. Pure: no I/O here. No record carries a raw vector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multiverse.pictures.paths import picture_path
from multiverse.rarity.types import RarityScore


def vector_url(snapshot: str, kind: str, index: int) -> str:
    """The gallery page of a vector."""
    return f"/v/{snapshot}/{kind}/{int(index)}"


@dataclass(frozen=True)
class VectorCard:
    """One scored vector as the gallery lists it (the route contract's VectorCard), with its percentile's interval
    (``percentile_low``, ``percentile_high``) and ``tier_uncertain`` when that interval straddles a tier boundary."""

    snapshot: str
    kind: str
    index: int
    space: str
    world: str
    score: float
    percentile: float
    tier: str
    knn_distance: float
    index_version: str
    n: int
    token_id: str | None = None
    percentile_low: float = 0.0
    percentile_high: float = 100.0
    tier_uncertain: bool = False

    @classmethod
    def of(cls, space: str, s: RarityScore, world: str = "", token_id: str | None = None) -> VectorCard:
        assert s.id is not None  # stored vectors only
        return cls(s.id.snapshot, s.id.kind, s.id.index, space, world or s.world or "", _finite(s.score),
                   _finite(s.percentile), s.tier, _finite(s.knn_distance), s.index_version, s.n, token_id,
                   _finite(s.percentile_low), _finite(s.percentile_high), s.tier_uncertain)

    @property
    def key(self) -> tuple[str, str, int]:
        return self.snapshot, self.kind, self.index

    def to_json(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "kind": self.kind, "index": self.index, "space": self.space,
                "world": self.world, "score": self.score, "percentile": self.percentile, "tier": self.tier,
                "knn_distance": self.knn_distance, "index_version": self.index_version, "n": self.n,
                "picture": picture_path(self.snapshot, self.kind, self.index),
                "url": vector_url(self.snapshot, self.kind, self.index), "token_id": self.token_id,
                "percentile_low": self.percentile_low, "percentile_high": self.percentile_high,
                "tier_uncertain": self.tier_uncertain}


@dataclass(frozen=True)
class NeighborCard:
    """A nearest neighbour: its card (when it could be scored) and its distance in the embedded space."""

    card: VectorCard
    distance: float

    def to_json(self) -> dict[str, Any]:
        return {**self.card.to_json(), "distance": _finite(self.distance)}


@dataclass(frozen=True)
class Distribution:
    """The space's scores as a histogram (``counts[i]`` vectors scored in ``[edges[i], edges[i+1])``), the tiers'
    lower bounds (percentile and score) and where this vector's score sits (``here``), for a chart."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    tiers: tuple[tuple[str, float, float], ...]  # (name, lower percentile, score at it)
    here: float

    def to_json(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts), "here": self.here,
                "tiers": [{"name": n, "lower_percentile": p, "score": s} for n, p, s in self.tiers]}


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor of the next ("" after the last)."""

    items: tuple[Any, ...]
    next_cursor: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"items": [i.to_json() if hasattr(i, "to_json") else i for i in self.items],
                "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class Detail:
    """A vector's page: its card, neighbours, the distribution, its snapshot's lineage, its token and its
    explanation (``multiverse.rarity.explain.Explanation.to_json()``: where it differs most from its neighbours;
    None when it could not be read)."""

    card: VectorCard
    neighbors: tuple[NeighborCard, ...]
    distribution: Distribution
    lineage: dict[str, Any]
    token: dict[str, Any] | None = field(default=None)
    explanation: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {**self.card.to_json(), "neighbors": [n.to_json() for n in self.neighbors],
                "distribution": self.distribution.to_json(), "lineage": self.lineage, "token": self.token,
                "explanation": self.explanation}


def _finite(x: float) -> float:
    """JSON has no NaN or infinity: such a figure reads as 0 (a score before the space has any neighbours)."""
    x = float(x)
    return x if x == x and abs(x) != float("inf") else 0.0
