"""A vector's page beyond its card: where its score sits on its space's distribution, its snapshot's lineage, its
token with listings and history, and its explanation (what makes it rare: ``explanation``).

The distribution comes from the calibration (the population's score quantiles at a fine grid of percentiles), so it
costs the same for 100 vectors as for a million: bin counts are N times the share of percentiles between edges."""

from __future__ import annotations

from typing import Any

import numpy as np

from multiverse.errors import NotFound
from multiverse.gallery.cards import Distribution, _finite
from multiverse.gallery.records import event_json, listing_json, snapshot_json, token_json
from multiverse.pictures.paths import picture_path
from multiverse.rarity.calibrate import TIERS, Calibration
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.explain import explain_stored
from multiverse.rarity.types import VectorId
from multiverse.records import SnapshotRecord
from multiverse.store.auth import Principal
from multiverse.store.visibility import Reads

BINS = 32


def calibration(engine: RarityEngine, kind: str) -> Calibration | None:
    """The calibration ``kind``'s scores are placed by now (None before the space holds any vector of it)."""
    return engine.calibration(kind)


def distribution(c: Calibration | None, here: float, bins: int = BINS) -> Distribution:
    """A histogram of the calibrated scores: ``bins`` equal bins from the lowest score to the 99.9th percentile's
    (or ``here``, if higher), and one more up to the highest score when that lies beyond (the rare tail, where
    the bins would be empty and the chart flat)."""
    if c is None or c.n == 0:
        return Distribution((0.0, 1.0), (0,), tuple((name, lower, 0.0) for name, lower in TIERS), _finite(here))
    values = np.asarray(c.values, dtype=np.float64)
    low, top = float(values[0]), float(values[-1])
    knee = max(c.threshold("legendary"), min(here, top))
    edges = np.linspace(low, knee, bins + 1) if knee > low else np.array([low, low + 1.0])
    if top > edges[-1]:
        edges = np.append(edges, top)
    pct = c.percentile(edges)
    pct[0] = 0.0
    pct[-1] = 100.0
    counts = np.maximum(0, np.round(np.diff(pct) / 100.0 * c.n)).astype(int)
    tiers = tuple((name, lower, _finite(c.threshold(name))) for name, lower in TIERS)
    return Distribution(tuple(_finite(e) for e in edges), tuple(int(x) for x in counts), tiers, _finite(here))


def explanation(visible: Any, who: Principal, vid: VectorId) -> dict[str, Any] | None:
    """What makes a vector rare, as JSON for the page's heat map and bar list: its neighbours among the worlds
    ``who`` may read, the values that differ most (signed z) and, for a frame, a grid of per-cell deviation
    (``multiverse.rarity.explain``); None when a state it needs is gone (the page shows the rest)."""
    try:
        return explain_stored(visible, who, vid).to_json()
    except NotFound:
        return None


def lineage(reads_: Reads, record: SnapshotRecord) -> dict[str, Any]:
    """The snapshot, its world, its parents (each with its world and the picture of its last frame; a parent in
    a world the reader may not read shows its id alone), and for a crossed world the operators, their
    parameters and the merge base."""
    parents = []
    for pid in record.parents:
        try:
            parent = reads_.snapshot(pid)
        except NotFound:
            parents.append({"id": pid, "world": None, "picture": None})
            continue
        last = parent.frame_count - 1
        parents.append({"id": parent.id, "world": parent.world,
                        "picture": picture_path(parent.id, "frame", last) if last >= 0 else None})
    prov = record.provenance
    recipe = prov.get("recipe") or {}
    steps = (recipe.get("pipeline") or {}).get("steps") or []
    return {
        "snapshot": snapshot_json(record),
        "world": record.world,
        "parents": parents,
        "operator": ", ".join(str(s.get("op", "")) for s in steps if isinstance(s, dict)) or None,
        "params": {"pipeline": recipe.get("pipeline"), "seed": recipe.get("seed"), "align": recipe.get("align"),
                   "frames": recipe.get("frames")} if recipe else {},
        "base": prov.get("base"),
    }


def token(market: Any, token_id: str | None) -> dict[str, Any] | None:
    """A claimed token: its record (owner as indexed), every listing and its chain history."""
    if market is None or not token_id:
        return None
    try:
        row = market.market.get_token(token_id)
    except NotFound:
        return None
    return {**token_json(row), "listings": [listing_json(x) for x in market.market.listings(token_id=token_id,
                                                                                              status="")],
            "history": [event_json(e) for e in market.market.history(token_id)]}
