"""Rarity scores from k-NN lists. Pure functions: arrays in, arrays out.

Views of how sparse the neighbourhood of a point x is (r_k(x): distance to its k-th nearest other point):

- ``knn``: r_k(x) itself, the global view (log-density ~ -d log r_k; Bouman et al. 2024 rank it among the
  strongest unsupervised outlier scores).
- densities, as in LOF: with reach(x, o) = max(r_k(o), d(x, o)), lrd(x) = 1 / mean reach(x, o) over x's k
  neighbours (the local reachability density). ``ref(x)`` is the GEOMETRIC mean lrd over x's two-hop
  neighbourhood (the neighbours of its neighbours, x left out), leaving out near-duplicate clumps (below).
  LOF uses the one-hop arithmetic mean; the two-hop mean keeps a tiny tight cluster (fewer than k points) from
  serving as its own reference, and averaging in log space keeps a few very dense entries from dominating it.
- what an entry z listed by o (x's neighbour, or x itself) is to x's reference, by how far o sees z against z's
  own k-NN radius (``_kinds``):
  * r_k(z) * NEAR_RATIO >= d(o, z): it COUNTS (its lrd enters the mean). LOF's local outliers see the dense
    cluster beside them at 1-4 of its r_k (the planted ones of tests/rarity/data.py at up to 3-4: a ratio of 3
    drops multiscale's AUC to 0.958), so they keep their contrast.
  * NEAR_RATIO to DUP_RATIO: a denser group seen from afar is LEFT OUT. A cluster of 11 copies of a frame
    within 0.03 (unit-variance data in 8-d) is seen at ratios 9-15 by the ordinary points around it; counted,
    it made them legendary.
  * beyond DUP_RATIO: a CLUMP of near-copies (density ~1 / clump width, unbounded), which says nothing about
    x's surroundings; its slot counts at x's own density (pulls the reference towards "even"), rather than
    being dropped: with 18 of 20 copies' slots dropped, a common point's ref rested on its 2 other neighbours'
    lists and it rose to rare by chance.
  A one-hop neighbour that is left out or a clump decides for its whole list. Without any of this, 20 copies of
  a frame within 1e-4 made 6 of the ordinary points beside them epic (their ref was the clump's lrd ~1e4).
- ``local``: ref(x) / lrd(x), LOF-like: about 1 inside a region of even density, large for a point sparser
  than its surroundings.
- ``score`` (what tiers rank): ln(max(ref(x), floor) / lrd(x)), ``floor`` being the lrd of the population's
  sparsest 20% (RarityConfig.floor_quantile, fixed at calibration; 20% rather than 10% lifts
  top-1% precision on the uneven manifold of tests/rarity/data.py from 0.88 to 0.96), points far denser
  than typical weighing less (``floor_of``: no clump lifts the floor). Within the common density range it is
  ln local; a neighbourhood sparser than the floor is itself rare, so a group of isolated points that are
  each other's neighbours (which LOF calls normal) still ranks by how sparse it is against the whole space.
  On every planted set of tests/rarity/data.py its ROC-AUC and top-1% precision are at least those of exact
  kNN distance, LOF (k=10, 20), IsolationForest and Han et al.'s Rarity Score (tests/rarity/test_peers.py),
  and near-copies of existing points (spreads up to 3% of the data's spread, any number) move no other point
  up more than one tier (tests/rarity/test_robust.py). Wider clumps are dense clusters in their own right: at 10% of the spread an
  11-point clump is seen at ratios 2-3.5, like the clusters beside planted local outliers, and no rule on
  k-NN lists tells the two apart (any that leaves it out loses multiscale's local outliers).

``SCORING`` names this definition: calibrations and stored indexes carry it, and an index stored under another
scoring is rebuilt on load.
"""

from __future__ import annotations

import numpy as np

TINY = np.float32(1e-30)
CHUNK_ROWS = 65536
NEAR_RATIO = np.float32(4.0)  # beyond it, a denser group seen from afar (module docstring)
DUP_RATIO = np.float32(16.0)  # beyond it, a clump of near-copies (module docstring)
COUNTS, LEFT_OUT, CLUMP = 0, 1, 2  # what a list entry is to its lister's reference (_kinds)
SCALE_CAP = 0.9  # floor_of: a point's weight in the typical scale is capped at this quantile of scale
SCORING = "lrd2-geo-near4-dup16-vfloor90"  # bump with any change to the ranked score


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


def _kinds(radius: np.ndarray, d: np.ndarray) -> np.ndarray:
    """What a list entry z at distance ``d`` from its lister, with k-NN radius ``radius``, is to the lister's
    reference (module docstring): COUNTS, LEFT_OUT (a denser group seen from afar) or CLUMP (near-copies)."""
    far = np.where(radius * DUP_RATIO >= d, LEFT_OUT, CLUMP)
    return np.where(radius * NEAR_RATIO >= d, COUNTS, far).astype(np.int8)


def _list_sums(
    dist: np.ndarray, nbr: np.ndarray, rows: np.ndarray, k_eff: int, logs: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per row o of ``rows``, what its list gives the reference of a point that lists o: (sum of log lrd over the
    entries that COUNT (float64), how many COUNT, how many are a CLUMP, how many entries (int32)), each
    (len(rows),). ``logs`` (len(rows), k_eff) float32 is the log lrd of each entry (anything at a -1 pad)."""
    z, d = nbr[rows, :k_eff], dist[rows, :k_eff]
    there = z >= 0
    kinds = _kinds(dist[z, k_eff - 1], d)  # a -1 pad reads the last row: masked by ``there``
    counts = there & (kinds == COUNTS)
    total = np.where(counts, logs, np.float32(0)).sum(axis=1, dtype=np.float64)
    number = lambda mask: mask.sum(axis=1, dtype=np.int32)  # noqa: E731
    return total, number(counts), number(there & (kinds == CLUMP)), number(there)


def _lists_back(nbr: np.ndarray, near: np.ndarray, skip: np.ndarray, within: np.ndarray) -> np.ndarray:
    """(n, k_eff): whether neighbour near[i, j] lists row skip[i] (never for skip -1). Only pairs ``within`` its
    k-NN radius are looked up: a list holds nothing beyond its k-th distance."""
    i, j = np.nonzero(within & (skip >= 0)[:, None])
    out = np.zeros(near.shape, dtype=bool)
    out[i, j] = (nbr[near[i, j], : near.shape[1]] == skip[i][:, None]).any(axis=1)
    return out


def densities(
    dist: np.ndarray, nbr: np.ndarray, own_dist: np.ndarray, own_nbr: np.ndarray, exclude: np.ndarray, k_eff: int,
    lrd_all: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(lrd(x), ref(x)) of the module docstring for n points x given their own lists ``own_dist``/``own_nbr``
    ((n, >= k_eff), rows of the population) and ``exclude`` (n,): each x's own row, or -1 for a vector that is
    not in the population. ``lrd_all`` (n_rows + 1,), when given, is the lrd of every row (faster for many
    points). ref(x) is lrd(x) where x has no two-hop entry that counts.

    Each neighbour o's list is summed once (``_list_sums``); x's own entry in o's list (x is left out of its
    reference) is then taken back out: what x is to o follows from r_k(x) and d(o, x), both on x's side."""
    n = len(own_nbr)
    own_out, ref_out = np.ones(n), np.ones(n)
    if k_eff == 0 or n == 0:
        return own_out, ref_out
    step = max(1, CHUNK_ROWS // k_eff)
    sums_all = None
    if lrd_all is not None:  # most of the population asked: every row's list summed once
        m = len(lrd_all) - 1
        log_all = np.log(np.maximum(lrd_all, TINY)).astype(np.float32)
        sums_all = _list_sums(dist, nbr, np.arange(m), k_eff, log_all[nbr[:m, :k_eff]])
    for s in range(0, n, step):
        near, mine, skip = own_nbr[s : s + step, :k_eff], own_dist[s : s + step, :k_eff], exclude[s : s + step]
        radius = dist[near, k_eff - 1]  # (n, k_eff): the neighbours' r_k
        reach = np.maximum(radius, mine)
        own = 1.0 / np.maximum(reach.mean(axis=1, dtype=np.float64), TINY)
        log_own = np.log(own).astype(np.float32).astype(np.float64)  # x's log lrd as o's list holds it
        if sums_all is not None:
            sums = [part[near] for part in sums_all]  # 4 x (n, k_eff)
        else:  # each distinct one-hop row once, with the lrd of each distinct row its list holds
            once, inverse = np.unique(near, return_inverse=True)
            listed = nbr[once, :k_eff]
            needed, where = np.unique(np.where(listed >= 0, listed, once[:, None]), return_inverse=True)
            logs = np.log(np.maximum(lrd(dist, nbr, needed, k_eff), TINY)).astype(np.float32)
            logs = logs[where.reshape(listed.shape)]
            at = inverse.reshape(near.shape)
            sums = [part[at] for part in _list_sums(dist, nbr, once, k_eff, logs)]
        one = _kinds(radius, mine)  # (n, k_eff): what each neighbour o is to x
        back = _lists_back(nbr, near, skip, radius >= mine)  # o lists x
        mirror = _kinds(own_dist[s : s + step, k_eff - 1][:, None], mine)  # what x is to o
        back_counts, back_clump = back & (mirror == COUNTS), back & (mirror == CLUMP)
        via = one == COUNTS
        total = np.where(via, sums[0] - back_counts * log_own[:, None], 0.0).sum(axis=1)
        n_counts = np.where(via, sums[1] - back_counts, 0).sum(axis=1)
        n_clump = np.where(via, sums[2] - back_clump, 0).sum(axis=1)
        n_clump += np.where(one == CLUMP, sums[3] - back, 0).sum(axis=1)  # a clump's whole list
        n_slots = n_counts + n_clump
        total += n_clump * np.log(own)
        own_out[s : s + step] = own
        ref_out[s : s + step] = np.where(n_slots > 0, np.exp(total / np.maximum(n_slots, 1)), own)
    return own_out, ref_out


def floor_of(lrd_all: np.ndarray, quantile: float) -> float:
    """The density floor: the lrd at ``quantile`` of the population (its sparsest share), each point weighted by
    min(1, NEAR_RATIO * its scale / the typical scale) (scale: 1 / lrd, its mean reach distance; typical: the
    median weighted by scale, each weight capped at the SCALE_CAP quantile of scale), 0 when empty. Points of ordinary density weigh 1 each; points NEAR_RATIO times
    denser than typical weigh in proportion to their scale, so 500 near-copies of one frame (lrd ~1e4) weigh
    as much as a fraction of one point and cannot lift the floor (unweighted, they lifted it 2.6x in a
    population of 300 and moved the sparse half of it up two tiers)."""
    own = np.asarray(lrd_all, dtype=np.float64)
    if not len(own):
        return 0.0
    scale = 1.0 / np.maximum(own, TINY)
    by_scale = np.argsort(scale, kind="stable")
    # Each point's share in "typical" is its scale, capped at the population's SCALE_CAP quantile of scale: a few
    # far outliers (each far sparser than the rest) then cannot hold most of the total and make the outliers'
    # own scale typical (uncapped, 3 far points among 72 did, the floor fell to their density and they scored
    # common), while near-copies still weigh next to nothing.
    cap = float(np.quantile(scale, SCALE_CAP))
    cum = np.cumsum(np.minimum(scale, cap)[by_scale])
    typical = scale[by_scale][min(len(own) - 1, int(np.searchsorted(cum, 0.5 * cum[-1])))]
    weight = np.minimum(1.0, float(NEAR_RATIO) * scale / max(typical, float(TINY)))
    by_lrd = np.argsort(own, kind="stable")
    cum = np.cumsum(weight[by_lrd])
    return float(own[by_lrd][min(len(own) - 1, int(np.searchsorted(cum, quantile * cum[-1])))])


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
