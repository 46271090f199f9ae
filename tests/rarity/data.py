"""Generated data with known answers for the rarity tests: Gaussian mixtures with planted rare points.

Each generator returns (x float32 (n, d), y (n,) 1 for a planted rare point, 0 for an inlier) from its own
seeded generator. ``combined`` plants all three kinds in one mixture. ``manifold``, ``multiscale`` and ``clumped``
are harder: an unevenly sampled curved sheet, clusters at scales 0.05 to 3, and near-duplicate clumps of 2 to 200
copies (inliers), each rotated into 32-64 dimensions with noise and planted with outliers of several kinds;
``wide_clumps`` has clumps of 2 to 500 copies at spreads 1e-4 to 3e-2.
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


def _rotate(rng: np.random.Generator, x: np.ndarray, d: int, noise: float) -> np.ndarray:
    """``x`` (n, m) placed in a random m-dimensional subspace of R^d, plus isotropic noise of std ``noise``."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return x @ q[: x.shape[1]] + noise * rng.standard_normal((len(x), d))


def _off_by(rng: np.random.Generator, base: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Points at a random direction and a distance in [lo, hi) from each row of ``base``."""
    return base + _unit(rng, len(base), base.shape[1]) * rng.uniform(lo, hi, (len(base), 1))


def _away(inliers: np.ndarray, candidates: np.ndarray, gap: float, m: int) -> np.ndarray:
    """The first ``m`` candidates at least ``gap`` from every inlier (a planted point inside the data is no
    outlier)."""
    d2 = (candidates**2).sum(1)[:, None] - 2 * candidates @ inliers.T + (inliers**2).sum(1)[None, :]
    keep = candidates[np.sqrt(np.maximum(d2.min(axis=1), 0)) >= gap][:m]
    assert len(keep) == m, "too few candidates clear the inliers"
    return keep


def uneven_manifold(seed: int = 0, d: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A 2-d sheet rolled into a spiral in 3-d, sampled 30x more densely at one end than the other, rotated into
    ``d`` dimensions with noise. Rare: points lifted off the sheet (local), points in the sparse end's gaps
    between turns, and global points over the bounding box."""
    rng = np.random.default_rng(seed)
    t = 3 * np.pi * (1 + 2 * rng.power(0.3, 2400))  # dense near the start of the spiral, sparse at its end
    sheet = np.c_[t * np.cos(t), 12 * rng.uniform(size=len(t)), t * np.sin(t)] / 3.0
    lifted = _away(sheet, _off_by(rng, sheet[rng.choice(len(t), 400)], 0.8, 1.6), 0.8, 25)
    tg = 3 * np.pi * (1 + 2 * rng.uniform(0.8, 1.0, 10)) + np.pi  # between two outer turns
    gaps = np.c_[tg * np.cos(tg), 12 * rng.uniform(size=10), tg * np.sin(tg)] / 3.0
    box = _away(sheet, rng.uniform(sheet.min(0) - 1, sheet.max(0) + 1, (400, 3)), 1.5, 15)
    x = _rotate(rng, np.vstack([sheet, lifted, gaps, box]), d, 0.05)
    return _pack([x[: len(t)]], [x[len(t) :]])


def multiscale_clusters(seed: int = 0, d: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Eight 8-d Gaussian clusters of std 0.05 to 3 and 60 to 600 points, rotated into ``d`` dimensions with
    noise. Rare: points 3-5 cluster radii from the centre of each cluster (local), and global points."""
    rng = np.random.default_rng(seed)
    stds = [0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 2.0, 3.0]
    sizes = [600, 60, 400, 100, 500, 200, 300, 600]
    centres = rng.uniform(-25, 25, (8, 8))
    inl = [c + s * rng.standard_normal((n, 8)) for c, s, n in zip(centres, stds, sizes)]
    local = [_off_by(rng, np.repeat(c[None], 5, 0), 3 * s * np.sqrt(8), 5 * s * np.sqrt(8)) for c, s in zip(centres, stds)]
    inliers = np.vstack(inl)
    far = rng.uniform(inliers.min(0), inliers.max(0), (20, 8))
    x = _rotate(rng, np.vstack([inliers, *local, far]), d, 0.01)
    return _pack([x[: len(inliers)]], [x[len(inliers) :]])


def clumped(seed: int = 0, d: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Four 6-d Gaussians of different spreads with near-duplicate clumps of 2 to 200 copies (std 1e-4) of
    ordinary points (inliers: saving a frame again does not make it rare), rotated into ``d`` dimensions with
    noise. Rare: global points, and local points beside the tightest Gaussian."""
    rng = np.random.default_rng(seed)
    inl = _mixture(rng, 6, [500, 400, 300, 300], [0.3, 0.7, 1.0, 1.4], spread=8.0)
    picks = rng.choice(len(inl), 8, replace=False)
    clumps = [inl[i] + 1e-4 * rng.standard_normal((m, 6)) for i, m in zip(picks, [2, 5, 10, 20, 40, 80, 120, 200])]
    inliers = np.vstack([inl, *clumps])
    far = rng.uniform(inl.min(0) - 1, inl.max(0) + 1, (20, 6))
    local = _off_by(rng, np.repeat(inl[:500].mean(0, keepdims=True), 15, 0), 2.5 * 0.3 * np.sqrt(6), 3.5 * 0.3 * np.sqrt(6))
    x = _rotate(rng, np.vstack([inliers, far, local]), d, 1e-3)
    return _pack([x[: len(inliers)]], [x[len(inliers) :]])


def wide_clumps(seed: int = 0, d: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Three 8-d Gaussians of std 0.6 to 1.4 with clumps of copies of ordinary points (inliers) at every scale
    the clump tests hold (spreads 1e-4 to 3e-2 of unit data: 2 to 500 copies each), rotated into ``d``
    dimensions with noise. Rare: global points, and local points beside the tightest Gaussian."""
    rng = np.random.default_rng(seed)
    inl = _mixture(rng, 8, [700, 500, 400], [0.6, 1.0, 1.4], spread=8.0)
    picks = rng.choice(len(inl), 12, replace=False)
    sizes = [2, 5, 10, 11, 20, 40, 80, 150, 300, 500, 12, 30]
    spreads = [1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 1e-4, 1e-3, 1e-2, 3e-2, 3e-2, 2e-2]
    clumps = [inl[i] + s * rng.standard_normal((m, 8)) for i, m, s in zip(picks, sizes, spreads)]
    inliers = np.vstack([inl, *clumps])
    far = rng.uniform(inl.min(0) - 1, inl.max(0) + 1, (20, 8))
    radius = 0.6 * np.sqrt(8)
    local = _off_by(rng, np.repeat(inl[:700].mean(0, keepdims=True), 15, 0), 2.5 * radius, 3.5 * radius)
    x = _rotate(rng, np.vstack([inliers, far, local]), d, 1e-3)
    return _pack([x[: len(inliers)]], [x[len(inliers) :]])


DATASETS = {
    "global": global_outliers,
    "local": local_outliers,
    "tiny": tiny_clusters,
    "combined": combined,
    "manifold": uneven_manifold,
    "multiscale": multiscale_clusters,
    "clumped": clumped,
    "wide_clumps": wide_clumps,
}
