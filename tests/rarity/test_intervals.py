"""Honest ranks: a percentile's interval narrows as the calibration sample grows, holds the true percentile at its
stated level, widens by an approximate index's recall error (an exact index: not at all), and a tier is uncertain
exactly when the interval straddles a tier boundary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from multiverse.rarity import IndexSettings, RarityConfig, RarityEngine, VectorId
from multiverse.rarity.calibrate import LEVEL, TIERS, fit, straddles, tier_of, wilson_cc
from multiverse.rarity.reads import recall_error


def interval_at(score: float, n: int, seed: int = 0, **kw) -> tuple[float, float, float]:
    """(low, percentile, high) of ``score`` against n uniform scores on [0, 1] (true percentile: 100 * score)."""
    c = fit(np.random.default_rng(seed).uniform(0, 1, n), index_version="v", floor=1.0)
    p = c.percentile(np.array([score]))
    low, high = c.interval(p, **kw)
    return float(low[0]), float(p[0]), float(high[0])


def test_the_interval_narrows_as_the_population_grows():
    widths = []
    for n in (100, 1_000, 10_000, 100_000):
        low, p, high = interval_at(0.99, n)
        assert low <= p <= high
        widths.append(high - low)
    assert all(a > 1.8 * b for a, b in zip(widths, widths[1:]))  # about 1/sqrt(n): x3.2 per decade
    assert widths[-1] < 0.2  # 100,000 scores place a 99th percentile within a tenth of a point either side


@pytest.mark.parametrize("n", [200, 2_000])
@pytest.mark.parametrize("truth", [0.5, 0.9, 0.99])
def test_the_interval_holds_the_true_percentile_at_its_level(n, truth):
    held = [lo <= 100 * truth <= hi for lo, _, hi in (interval_at(truth, n, seed) for seed in range(300))]
    assert np.mean(held) >= LEVEL - 0.03  # 300 draws: the Monte Carlo error is about 1.3 points


def test_wilson_cc_is_close_to_clopper_pearson():
    from scipy.stats import beta  # scikit-learn's dependency: the exact interval, for reference

    for n in (10, 100, 1_000, 100_000):
        for x in sorted({0, 1, n // 2, int(0.99 * n), n - 1, n}):
            low, high = (float(v[0]) for v in wilson_cc(np.array([x]), n))
            exact_low = 0.0 if x == 0 else beta.ppf(0.025, x, n - x + 1)
            exact_high = 1.0 if x == n else beta.ppf(0.975, x + 1, n - x)
            assert abs(low - exact_low) < 0.04 and abs(high - exact_high) < 0.04
            assert low <= x / n <= high


def test_recall_error_widens_by_the_tail_share():
    low0, p, high0 = interval_at(0.99, 10_000)
    low, _, high = interval_at(0.99, 10_000, recall_error=0.05)
    tail = 0.05 * (100 - p)
    assert low == pytest.approx(max(0.0, low0 - tail)) and high == pytest.approx(min(100.0, high0 + tail))


def engine_of(exact_limit: int) -> RarityEngine:
    x = np.random.default_rng(0).standard_normal((3_000, 8)).astype(np.float32)
    engine = RarityEngine("s", frame_dim=8, config=RarityConfig(index=IndexSettings(exact_limit=exact_limit,
                                                                                     device="cpu")))
    engine.add("frame", x, snapshot="a", world="w")
    return engine


def test_an_ivf_index_widens_the_interval_and_the_exact_one_does_not():
    exact, ivf = engine_of(100_000), engine_of(1_000)
    assert recall_error(exact.population("frame")) == 0.0
    e = recall_error(ivf.population("frame"))
    stats = ivf.stats()["frame"]
    assert stats.index_kind == "ivf" and e == pytest.approx(1 - stats.measured_recall) and 0 < e < 0.1
    vid = VectorId("a", "frame", 7)
    s, t = exact.rarity_of(vid), ivf.rarity_of(vid)
    c = exact.calibration("frame")
    low, high = c.interval(np.array([s.percentile]))
    assert (s.percentile_low, s.percentile_high) == (pytest.approx(low[0]), pytest.approx(high[0]))
    w = ivf.calibration("frame").interval(np.array([t.percentile]), recall_error=e)
    assert (t.percentile_low, t.percentile_high) == (pytest.approx(w[0][0]), pytest.approx(w[1][0]))


def test_every_score_marks_its_tier_uncertain_exactly_when_straddling():
    engine = engine_of(100_000)
    page, _ = engine.top_rare("frame", limit=1000)
    assert any(s.tier_uncertain for s in page) and any(not s.tier_uncertain for s in page)
    for s in page:
        assert s.percentile_low <= s.percentile <= s.percentile_high
        assert s.tier_uncertain == (tier_of(s.percentile_low) != tier_of(s.percentile_high))
        assert s.tier_uncertain == any(s.percentile_low < lower <= s.percentile_high for _, lower in TIERS[1:])


@given(st.floats(0, 100), st.floats(0, 100))
def test_straddles_is_a_boundary_inside_the_interval(a, b):
    low, high = min(a, b), max(a, b)
    assert straddles(low, high) == any(low < lower <= high for _, lower in TIERS[1:])
