"""The main score ranks planted outliers at least as well as every peer (scikit-learn's k-th neighbour distance,
LOF at k=10 and k=20, IsolationForest, Han et al.'s Rarity Score) on every planted set of tests/rarity/data.py,
by ROC-AUC and by precision among the 1% highest scores (issue 16). The peers and the table live in
bench/rarity_peers.py, which bench/rarity_bench.py reports from too."""

from __future__ import annotations

import numpy as np
import pytest

from bench.rarity_peers import PEERS, han_rarity, precision_top1, table
from tests.rarity.data import DATASETS


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_main_score_ranks_at_least_as_well_as_every_peer(name):
    quality = table(*DATASETS[name]())
    ours = quality["main"]
    best_auc = max(quality[p]["auc"] for p in PEERS)
    best_top1 = max(quality[p]["top1"] for p in PEERS)
    assert ours["auc"] >= best_auc and ours["top1"] >= best_top1, (name, quality)


def test_the_measures_rank_a_known_answer():
    """The table's measures on a case worked by hand: 200 points, the 2 planted ones scored highest by one
    score and lowest by its reverse."""
    y = np.r_[np.zeros(198), np.ones(2)]
    score = np.arange(200.0)
    assert precision_top1(y, score) == 1.0 and precision_top1(y, -score) == 0.0
    x = np.vstack([np.random.default_rng(0).standard_normal((198, 4)), [[40.0] * 4, [-40.0] * 4]])
    han = han_rarity(x, 10)
    assert set(np.argsort(-han)[:2]) == {198, 199}  # no ball holds the two far points: they rank first
