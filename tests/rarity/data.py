"""Generated data with known answers for the rarity tests: Gaussian mixtures with planted rare points.

Each generator returns (x float32 (n, d), y (n,) 1 for a planted rare point, 0 for an inlier) from its own
seeded generator. ``combined`` plants all three kinds in one mixture.
"""

from __future__ import annotations

import numpy as np


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _mixture(rng: np.random.Generator, d: int, sizes, stds, spread: float = 6.0) -> np.ndarray:
    centres = rng.uniform(-spread, spread, (len(sizes), d))
    return np.vstack([c + s * rng.standard_normal((n, d)) for c, s, n in zip(centres, stds, sizes)])


def global_outliers(seed: int = 0, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Five Gaussians of different spreads, plus 40 points uniform over the data's bounding box (grown by 2)."""
    rng = np.random.default_rng(seed)
    inliers = _mixture(rng, d, [600, 500, 400, 300, 200], [0.4, 0.7, 1.0, 1.3, 1.6])
    out = rng.uniform(inliers.min(0) - 2, inliers.max(0) + 2, (40, d))
    return _pack([inliers], [out])


def local_outliers(seed: int = 0, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A dense cluster (std 0.15), a sparse one (std 1.5) and a middling one; 30 rare points 2-3 dense-cluster
    radii from the dense centre: closer to their neighbours than the sparse cluster's points are to theirs,
    so only a local view finds them (LOF's textbook case)."""
    rng = np.random.default_rng(seed)
    dense = 0.15 * rng.standard_normal((700, d))
    sparse = 12.0 + 1.5 * rng.standard_normal((700, d))
    middle = np.r_[np.full(d // 2, -10.0), np.full(d - d // 2, 6.0)] + 0.6 * rng.standard_normal((500, d))
    radius = 0.15 * np.sqrt(d)
    out = _unit(rng, 30, d) * rng.uniform(2.0 * radius, 3.0 * radius, (30, 1))
    return _pack([dense, sparse, middle], [out])


def tiny_clusters(seed: int = 0, d: int = 16, gap: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Four unit Gaussians of 500 points, and beside each a tight cluster of 4 points (std 0.02; fewer than k)
    ``gap`` beyond the Gaussian's typical radius: near-duplicates that must not pass for a dense region."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (4, d))
    inliers = [c + rng.standard_normal((500, d)) for c in centres]
    tiny = [c + _unit(rng, 1, d)[0] * (np.sqrt(d) + gap) + 0.02 * rng.standard_normal((4, d)) for c in centres]
    return _pack(inliers, tiny)


def combined(seed: int = 0, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """One mixture with global outliers, local outliers beside a dense cluster and tiny tight clusters."""
    rng = np.random.default_rng(seed)
    inliers = _mixture(rng, d, [600, 500, 400], [0.6, 1.0, 1.4], spread=8.0)
    dense = 30.0 + 0.15 * rng.standard_normal((600, d))
    lo, hi = inliers.min(0) - 2, inliers.max(0) + 2
    far = rng.uniform(lo, hi, (25, d))
    radius = 0.15 * np.sqrt(d)
    local = 30.0 + _unit(rng, 25, d) * rng.uniform(2.0 * radius, 3.0 * radius, (25, 1))
    tiny = [c + 0.02 * rng.standard_normal((4, d)) for c in rng.uniform(-25, -15, (4, d))]
    return _pack([inliers, dense], [far, local, *tiny])


def _pack(inliers: list[np.ndarray], rare: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.vstack(inliers), np.vstack(rare)
    x = np.vstack([a, b]).astype(np.float32)
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    return x, y


DATASETS = {
    "global": global_outliers,
    "local": local_outliers,
    "tiny": tiny_clusters,
    "combined": combined,
}
