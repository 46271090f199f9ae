"""Percentiles and tiers against a versioned calibration. Pure.

A calibration is the population's score distribution at one index version, kept as the scores at a fixed grid
of percentiles (finer towards the top, where the tiers are narrow). A score's percentile is the share of the
calibrated population scoring at or below it (interpolated on the grid); its tier follows NFT rarity tools:

    common < 50% <= uncommon < 90% <= rare < 99% <= epic < 99.9% <= legendary

Ranks must not drift silently: every calibration has a version (a hash of its content: the density floor and
the quantiles, and score.SCORING, the definition of the score), remembers the index version it was fitted at, and every score names both.

Ranks are honest about what they rest on (``interval``): a percentile is the share of a sample of n scores at or
below one score, so it carries a binomial confidence interval at ``LEVEL`` (Wilson's score interval with
continuity correction: closed form, and at least as wide as the exact Clopper-Pearson one in practice), which
narrows as n grows. An approximate (IVF) index finds a share ``e`` = 1 - recall of the true neighbours too late or
not at all; a missed neighbour lengthens a k-th distance, so the share of the population above a score is known up
to a relative error of about e: the interval widens by e times that tail share on each side (an exact index: e=0).
A tier is uncertain when its interval straddles a tier boundary (``straddles``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from multiverse.errors import InvalidArgument
from multiverse.rarity.score import SCORING

TIERS: tuple[tuple[str, float], ...] = (
    ("common", 0.0),
    ("uncommon", 50.0),
    ("rare", 90.0),
    ("epic", 99.0),
    ("legendary", 99.9),
)
TIER_NAMES = tuple(name for name, _ in TIERS)
LEVEL = 0.95  # the confidence level of a percentile's interval
GRID = np.unique(
    np.round(
        np.concatenate(
            [
                np.arange(0.0, 90.0, 0.5),
                np.arange(90.0, 99.0, 0.05),
                np.arange(99.0, 99.9, 0.005),
                np.arange(99.9, 100.0, 0.0005),
                [100.0],
            ]
        ),
        6,
    )
)


@dataclass(frozen=True)
class Calibration:
    """Score quantiles of a population at one index version. ``values[i]`` is the score at ``GRID[i]``%."""

    version: str
    index_version: str
    n: int
    floor: float  # the density floor the scores were computed with (score.rarity)
    values: tuple[float, ...]

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """Percent (0-100) of the calibrated population scoring at or below each score."""
        s = np.asarray(scores, dtype=np.float64)
        if self.n == 0:
            return np.zeros(s.shape)
        values = np.asarray(self.values)
        top, keep = np.unique(values[::-1], return_index=True)  # per distinct value, its highest percentile
        grid = GRID[::-1][keep]
        out = np.interp(s, top, grid, left=0.0, right=100.0)
        out[s < values[0]] = 0.0
        return np.where(np.isnan(s), 0.0, out)

    def interval(self, percentiles: np.ndarray, *, recall_error: float = 0.0,
                 level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) percent bounds at ``level`` on each of ``percentiles`` (as ``percentile`` gave them against
        this calibration): the binomial interval of a share of ``n`` scores, widened by ``recall_error`` (1 -
        the index's measured recall) times the tail share above (see the module docstring)."""
        p = np.clip(np.asarray(percentiles, dtype=np.float64) / 100.0, 0.0, 1.0)
        if self.n == 0:
            return np.zeros(p.shape), np.full(p.shape, 100.0)
        low, high = wilson_cc(p * self.n, self.n, level)
        low, high = np.minimum(low, p), np.maximum(high, p)  # the estimate inside its interval, whatever rounding
        e = min(max(float(recall_error), 0.0), 1.0)
        tail = e * (1.0 - p)
        return 100.0 * np.clip(low - tail, 0.0, 1.0), 100.0 * np.clip(high + tail, 0.0, 1.0)

    def threshold(self, tier: str) -> float:
        """The lowest score in ``tier`` (the score at the tier's lower percentile)."""
        lower = dict(TIERS)[check_tier(tier)]
        return float(np.interp(lower, GRID, np.asarray(self.values))) if self.n else 0.0

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "index_version": self.index_version,
            "n": self.n,
            "floor": self.floor,
            "values": list(self.values),
        }

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        values = tuple(float(v) for v in data["values"])
        if len(values) != len(GRID):
            raise ValueError(f"calibration has {len(values)} quantiles, this version uses {len(GRID)}")
        return cls(
            str(data["version"]),
            str(data["index_version"]),
            int(data["n"]),
            float(data["floor"]),
            values,
        )


def fit(scores: np.ndarray, *, index_version: str, floor: float) -> Calibration:
    """The calibration of a population whose scores are ``scores`` (non-finite scores are left out)."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    values = tuple(float(v) for v in np.quantile(s, GRID / 100.0)) if len(s) else tuple(0.0 for _ in GRID)
    # content and the scoring that produced it: equal populations, equal versions; a new scoring, a new version
    body = {"n": len(s), "floor": float(floor).hex(), "scoring": SCORING}
    digest = hashlib.sha256(json.dumps([body, [round(v, 9) for v in values]]).encode()).hexdigest()[:16]
    return Calibration(f"cal-{digest}", index_version, len(s), float(floor), values)


def wilson_cc(x: np.ndarray, n: int, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval with continuity correction (Newcombe 1998, method 4) for ``x`` successes of ``n``
    trials (x may be fractional: an interpolated share), as shares in [0, 1]."""
    if not 0.0 < level < 1.0:
        raise InvalidArgument("level", level, "use a confidence level in (0, 1), e.g. 0.95")
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, n)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p, z2, den = x / n, z * z, 2.0 * (n + z * z)
    with np.errstate(invalid="ignore"):
        low = (2 * x + z2 - 1 - z * np.sqrt(np.maximum(z2 - 2 - 1 / n + 4 * p * (n * (1 - p) + 1), 0.0))) / den
        high = (2 * x + z2 + 1 + z * np.sqrt(np.maximum(z2 + 2 - 1 / n + 4 * p * (n * (1 - p) - 1), 0.0))) / den
    low = np.where(x <= 0, 0.0, np.clip(low, 0.0, 1.0))
    high = np.where(x >= n, 1.0, np.clip(high, 0.0, 1.0))
    return low, high


def straddles(low: float, high: float) -> bool:
    """Whether a percentile interval [low, high] crosses a tier boundary (its ends fall in different tiers)."""
    return tier_of(low) != tier_of(high)


def tier_of(percentile: float) -> str:
    """The tier of a percentile (0-100)."""
    name = TIERS[0][0]
    for tier, lower in TIERS:
        if percentile >= lower:
            name = tier
    return name


def check_tier(tier: str) -> str:
    if tier not in TIER_NAMES:
        raise InvalidArgument("tier", tier, f"use one of {', '.join(TIER_NAMES)}")
    return tier
