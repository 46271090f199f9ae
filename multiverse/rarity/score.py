"""Rarity scores from k-NN lists. Pure functions: arrays in, arrays out.

Views of how sparse the neighbourhood of a point x is (r_k(x): distance to its k-th nearest other point):

- ``knn``: r_k(x) itself, the global view (log-density ~ -d log r_k; Bouman et al. 2024 rank it among the
  strongest unsupervised outlier scores).
- densities, as in LOF: with reach(x, o) = max(r_k(o), d(x, o)), lrd(x) = 1 / mean reach(x, o) over x's k
  neighbours (the local reachability density). ``ref(x)`` is the GEOMETRIC mean lrd over x's two-hop
  neighbourhood (the neighbours of its neighbours, x left out), leaving out near-duplicate clumps (below).
  LOF uses the one-hop arithmetic mean; the two-hop mean keeps a tiny tight cluster (fewer than k points) from
  serving as its own reference, and averaging in log space keeps a few very dense entries from dominating it.
- near-duplicate clumps: a neighbour o whose whole k-NN ball is DUP_RATIO times smaller than its distance from
  the point looking at it (r_k(o) * DUP_RATIO < d(x, o)) is a clump of near-copies seen from afar, one point
  at that scale. Its density (about 1 / clump width, unbounded) says nothing about x's surroundings, so it
  is left out of ref: of x's two-hop entries, those reached through such a one-hop neighbour, and those that
  are such a clump seen from the one-hop neighbour that lists them. Without this, 20 copies of a frame within
  1e-4 made the ordinary points beside them epic (their ref was the clump's lrd ~ 1e4). Genuinely dense
  clusters sit a few of their r_k from their local outliers (ratio 2-5), far below DUP_RATIO, and still count.
- ``local``: ref(x) / lrd(x), LOF-like: about 1 inside a region of even density, large for a point sparser
  than its surroundings.
- ``score`` (what tiers rank): ln(max(ref(x), floor) / lrd(x)), ``floor`` being the lrd of the population's
  sparsest 20% (RarityConfig.floor_quantile, fixed at calibration; 20% rather than 10% lifts
  top-1% precision on the uneven manifold of tests/rarity/data.py from 0.88 to 0.96). Within the common density range it is ln local; a neighbourhood sparser
  than the floor is itself rare, so a group of isolated points that are each other's neighbours (which LOF
  calls normal) still ranks by how sparse it is against the whole space. On every planted set of
  tests/rarity/data.py its ROC-AUC and top-1% precision are at least those of exact kNN distance, LOF (k=10,
  20), IsolationForest and Han et al.'s Rarity Score (tests/rarity/test_robust.py).

``SCORING`` names this definition: calibrations and stored indexes carry it, and an index stored under another
scoring is rebuilt on load.
"""

from __future__ import annotations

import numpy as np

TINY = np.float32(1e-30)
CHUNK_ROWS = 65536
DUP_RATIO = np.float32(16.0)  # see "near-duplicate clumps" above
SCORING = "lrd2-geo-dedup16"  # bump with any change to the ranked score


def effective_k(k: int, n_alive: int) -> int:
    """The neighbour rank in use: k, or fewer while the population has no k other points."""
    return max(0, min(k, n_alive - 1))


def kth_distance(dist: np.ndarray, rows: np.ndarray, k_eff: int) -> np.ndarray:
    """r_k of ``rows`` at rank ``k_eff`` (+inf when k_eff is 0)."""
    if k_eff == 0:
        return np.full(len(rows), np.inf, dtype=np.float32)
    return dist[rows, k_eff - 1]


def lrd(dist: np.ndarray, nbr: np.ndarray, rows: np.ndarray, k_eff: int) -> np.ndarray:
    """LOF's local reachability density of ``rows``: 1 / mean over the k_eff neighbours of
    max(r_k(neighbour), d(row, neighbour))."""
    if k_eff == 0:
        return np.ones(len(rows))
    near = nbr[rows, :k_eff]  # (n, k_eff)
    reach = np.maximum(dist[near, k_eff - 1], dist[rows, :k_eff])
    return 1.0 / np.maximum(reach.mean(axis=1, dtype=np.float64), TINY)


def densities(
    dist: np.ndarray, nbr: np.ndarray, own_dist: np.ndarray, own_nbr: np.ndarray, exclude: np.ndarray, k_eff: int,
    lrd_all: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(lrd(x), ref(x)) of the module docstring for n points x given their own lists ``own_dist``/``own_nbr``
    ((n, >= k_eff), rows of the population) and ``exclude`` (n,): each x's own row, or -1 for a vector that is
    not in the population. ``lrd_all`` (n_rows + 1,), when given, is the lrd of every row (faster for many
    points). ref(x) is lrd(x) where x has no two-hop neighbour."""
    n = len(own_nbr)
    own_out, ref_out = np.ones(n), np.ones(n)
    if k_eff == 0 or n == 0:
        return own_out, ref_out
    step = max(1, CHUNK_ROWS // k_eff)
    # with every lrd given (most of the population asked): log lrd per row once, and the lists with each entry
    # z that is a clump seen from its lister o (r_k(z) * DUP_RATIO < d(o, z)) blanked (-1), once
    log_all = nbr_all = None
    if lrd_all is not None:
        m = len(lrd_all) - 1
        log_all = np.log(np.maximum(lrd_all, TINY)).astype(np.float32)
        rk = np.append(dist[:m, k_eff - 1], np.float32(np.inf))  # the last cell: the -1 pads
        nbr_all = np.full((m + 1, k_eff), -1, dtype=nbr.dtype)
        nbr_all[:m] = np.where(rk[nbr[:m, :k_eff]] * DUP_RATIO < dist[:m, :k_eff], -1, nbr[:m, :k_eff])
    for s in range(0, n, step):
        near, mine, skip = own_nbr[s : s + step, :k_eff], own_dist[s : s + step, :k_eff], exclude[s : s + step]
        radius = dist[near, k_eff - 1]  # (n, k_eff): the neighbours' r_k
        reach = np.maximum(radius, mine)
        own = 1.0 / np.maximum(reach.mean(axis=1, dtype=np.float64), TINY)
        seen = (radius * DUP_RATIO >= mine)[:, :, None]  # one-hop neighbours that are no clump seen from x
        if log_all is not None:
            two = nbr_all[near].reshape(len(near), -1)  # (n, k_eff^2): the neighbours' neighbours
            valid = (two >= 0) & (two != skip[:, None]) & np.broadcast_to(seen, near.shape + (k_eff,)).reshape(two.shape)
            logs = log_all[two]
        else:  # each distinct two-hop row once: its log lrd, and its r_k against d(o, z) for the z reached via o
            two = nbr[near, :k_eff].reshape(len(near), -1)
            base = (two >= 0) & (two != skip[:, None])
            needed, inverse = np.unique(np.where(base, two, near[:, :1]), return_inverse=True)
            inverse = inverse.reshape(two.shape)
            logs = np.log(np.maximum(lrd(dist, nbr, needed, k_eff), TINY)).astype(np.float32)[inverse]
            two_r = dist[needed, k_eff - 1][inverse].reshape(near.shape + (k_eff,))
            valid = base & ((two_r * DUP_RATIO >= dist[near, :k_eff]) & seen).reshape(two.shape)
        count = valid.sum(axis=1)
        ref = np.exp(np.where(valid, logs, 0.0).sum(axis=1, dtype=np.float64) / np.maximum(count, 1))
        own_out[s : s + step] = own
        ref_out[s : s + step] = np.where(count > 0, ref, own)
    return own_out, ref_out


def floor_of(lrd_all: np.ndarray, quantile: float) -> float:
    """The density floor: the lrd at ``quantile`` of the population (its sparsest share), 0 when empty."""
    return float(np.quantile(lrd_all, quantile)) if len(lrd_all) else 0.0


def rarity(own: np.ndarray, ref: np.ndarray, floor: float) -> np.ndarray:
    """The ranked score: ln(max(ref, floor) / own)."""
    return np.log(np.maximum(ref, floor) / np.maximum(own, TINY))


def reference_rarity(
    query: np.ndarray, ref_rows: np.ndarray, distance: np.ndarray, radius: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Han et al.'s rarity for m queries from candidate pairs (query[i], ref_rows[i]) at ``distance[i]``;
    ``radius`` is r_k per reference row. Returns (rarity (m,) float64, NaN where uncharted; uncharted (m,))."""
    inside = distance <= radius[ref_rows]
    best = np.full(m, np.inf)
    np.minimum.at(best, query[inside], radius[ref_rows[inside]].astype(np.float64))
    uncharted = ~np.isfinite(best)
    best[uncharted] = np.nan
    return best, uncharted
