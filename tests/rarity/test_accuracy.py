"""Ranking quality on generated data with known answers, against scikit-learn's exact kNN distance and LOF on the
same data; and the IVF path's recall against exact search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from sklearn import metrics as sklearn_metrics
from sklearn import neighbors as sklearn_neighbors

from multiverse.rarity import IndexSettings, RarityConfig, RarityEngine, reads
from tests.rarity.data import DATASETS, _mixture

K = 10


def engine_scores(x: np.ndarray, config: RarityConfig | None = None) -> tuple[RarityEngine, np.ndarray]:
    """Scores of every row of ``x`` added as one snapshot, in row order."""
    engine = RarityEngine("test", frame_dim=x.shape[1], config=config)
    result = engine.add("frame", x, snapshot="s", world="w")
    return engine, np.array([s.score for s in result.scores])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_auc_at_least_095_and_at_least_the_peers(name):
    x, y = DATASETS[name]()
    _, ours = engine_scores(x)
    auc = sklearn_metrics.roc_auc_score
    dist, _ = sklearn_neighbors.NearestNeighbors(n_neighbors=K + 1).fit(x).kneighbors(x)
    lof = sklearn_neighbors.LocalOutlierFactor(n_neighbors=K).fit(x)
    peers = {"knn": auc(y, dist[:, -1]), "lof": auc(y, -lof.negative_outlier_factor_)}
    assert auc(y, ours) >= 0.95, (name, auc(y, ours), peers)
    for peer, value in peers.items():
        assert auc(y, ours) >= value - 1e-9, (name, auc(y, ours), peer, value)


def test_knn_distance_is_exact_and_excludes_the_point_itself():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("test", frame_dim=x.shape[1])
    scores = engine.add("frame", x, snapshot="s", world="w").scores
    dist, _ = sklearn_neighbors.NearestNeighbors(n_neighbors=K + 1).fit(x).kneighbors(x)
    np.testing.assert_allclose([s.knn_distance for s in scores], dist[:, -1], rtol=1e-5)
    assert all(s.neighbors_used == K and s.n == len(x) for s in scores)


def clustered(n: int, d: int = 16, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = [n // 8] * 8
    return _mixture(rng, d, sizes, [0.5, 0.8, 1.0, 1.2, 0.6, 0.9, 1.1, 1.4], spread=5.0).astype(np.float32)


def n_recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found.tolist(), truth.tolist())]))


def test_ivf_lists_reach_095_n_recall_at_10_against_exact_search():
    x = clustered(12_000)
    config = RarityConfig(index=IndexSettings(exact_limit=2_000))
    engine, _ = engine_scores(x[:8_000], config)
    for i, start in enumerate(range(8_000, 12_000, 1_000)):  # incremental batches on the IVF index
        engine.add("frame", x[start : start + 1_000], snapshot=f"b{i}", world="w")
    pop = engine.population("frame")
    assert pop.index.kind == "ivf" and pop.index.nprobe < pop.index.nlist
    _, exact = faiss.knn(x, x, K + 1)
    truth = np.array([[j for j in row if j != i][:K] for i, row in enumerate(exact)])
    rows = pop.registry.key_row[: pop.registry.n_keys]  # id -> row; row numbers follow x's order here
    assert np.array_equal(rows, np.arange(len(x)))
    assert n_recall(pop.graph.nbr[: len(x)], truth) >= 0.95
    stats = engine.stats()["frame"]
    assert stats.index_kind == "ivf" and stats.measured_recall >= 0.95


def test_ivf_scores_rank_as_well_as_exact_ones():
    x, y = DATASETS["combined"]()
    _, exact = engine_scores(x)
    engine, approx = engine_scores(x, RarityConfig(index=IndexSettings(exact_limit=500)))
    assert engine.population("frame").index.kind == "ivf"
    auc = sklearn_metrics.roc_auc_score
    assert auc(y, approx) >= 0.95 and abs(auc(y, approx) - auc(y, exact)) < 0.01


def test_reference_rarity_flags_uncharted_vectors():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("test", frame_dim=x.shape[1])
    engine.add("frame", x, snapshot="s", world="w")
    far = x.mean(axis=0, keepdims=True) + 1e3
    inside = x[:1] + 1e-3
    far_score, near_score = engine.score("frame", np.vstack([far, inside]))
    assert far_score.uncharted and far_score.reference_rarity is None and far_score.tier == "legendary"
    assert not near_score.uncharted and near_score.reference_rarity > 0
    pop = engine.population("frame")
    assert reads.member_arrays(pop, pop.alive_rows())[0].shape == (len(x),)
