"""The main rarity score against its peers on planted data: scikit-learn's k-th neighbour distance, LOF (k=10 and
k=20), IsolationForest (random_state 0) and Han et al.'s Rarity Score, by ROC-AUC and by precision among the 1%
highest scores. Shared by tests/rarity/test_peers.py (which asserts the main score is at least the best peer on
every planted set) and bench/rarity_bench.py (which reports the table for one set in its last JSON line)."""

from __future__ import annotations

import numpy as np
from sklearn import ensemble as sklearn_ensemble
from sklearn import metrics as sklearn_metrics
from sklearn import neighbors as sklearn_neighbors

from multiverse.rarity import RarityEngine

K = 10
PEERS = ("knn", "lof10", "lof20", "iforest", "rarity_score")


def han_rarity(x: np.ndarray, k: int = K) -> np.ndarray:
    """Han et al.'s Rarity Score: the smallest k-NN radius among the balls of other points that hold x. Points
    no ball holds (which the paper leaves out) rank above every other, by their own k-NN radius. Exact, O(n^2)
    memory: for planted sets of a few thousand points."""
    d = sklearn_metrics.pairwise_distances(x)
    np.fill_diagonal(d, np.inf)
    r = np.sort(d, axis=1)[:, k - 1]
    best = np.where(d <= r[None, :], r[None, :], np.inf).min(axis=1)
    top = best[np.isfinite(best)].max()
    return np.where(np.isfinite(best), best, top + r)


def precision_top1(y: np.ndarray, score: np.ndarray) -> float:
    """The share of planted outliers (y == 1) among the 1% highest scores (at least one point)."""
    n = max(1, round(0.01 * len(y)))
    return float(y[np.argsort(-score, kind="stable")[:n]].mean())


def peer_scores(x: np.ndarray, k: int = K) -> dict[str, np.ndarray]:
    """Each peer's outlier score of every row of ``x`` (higher = more outlying)."""
    dist, _ = sklearn_neighbors.NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    out = {"knn": dist[:, -1]}
    for kk in (10, 20):
        out[f"lof{kk}"] = -sklearn_neighbors.LocalOutlierFactor(n_neighbors=kk).fit(x).negative_outlier_factor_
    out["iforest"] = -sklearn_ensemble.IsolationForest(random_state=0).fit(x).score_samples(x)
    out["rarity_score"] = han_rarity(x, k)
    return out


def main_scores(x: np.ndarray) -> np.ndarray:
    """The main score (what tiers rank) of every row of ``x``, added as one snapshot to a fresh engine."""
    engine = RarityEngine("peers", frame_dim=x.shape[1])
    return np.array([s.score for s in engine.add("frame", x, snapshot="s", world="w").scores])


def table(x: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float]]:
    """{"main" and each peer: {"auc", "top1"}} on planted data (x, y)."""
    scores = {"main": main_scores(x), **peer_scores(x)}
    return {name: {"auc": round(float(sklearn_metrics.roc_auc_score(y, s)), 4), "top1": round(precision_top1(y, s), 4)}
            for name, s in scores.items()}
