"""Rarity by density: how sparse the neighbourhood of each frame latent and player vector of a latent space is,
calibrated to a percentile and a tier. See ``engine.py`` for the entry point and ``score.py`` for the scores."""

from multiverse.rarity.calibrate import TIER_NAMES, TIERS, Calibration
from multiverse.rarity.embed import EMBEDDERS, Embedder, make_embedder
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.index import IndexSettings, gpu_count
from multiverse.rarity.persist import StaleIndex
from multiverse.rarity.types import (
    KINDS,
    AddResult,
    KindStats,
    Neighbor,
    RarityConfig,
    RarityScore,
    VectorId,
)

__all__ = [
    "EMBEDDERS",
    "KINDS",
    "TIERS",
    "TIER_NAMES",
    "AddResult",
    "Calibration",
    "Embedder",
    "IndexSettings",
    "KindStats",
    "Neighbor",
    "RarityConfig",
    "RarityEngine",
    "RarityScore",
    "StaleIndex",
    "VectorId",
    "gpu_count",
    "make_embedder",
]
