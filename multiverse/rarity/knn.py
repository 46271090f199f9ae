"""k-nearest-neighbour lists of a population and the distance helpers behind them. Pure numpy/FAISS.

Every point (a row) keeps its k nearest other points, sorted by distance: ``dist[row]`` (true L2 distances,
float32, +inf where the population has fewer than k other points) and ``nbr[row]`` (their rows, -1 there).
Distances in the lists are always recomputed from the two vectors (``pair_distances``), never taken from a
GEMM-based search, so the same pair has the same distance whichever path found it, and near-duplicates do
not suffer the cancellation of ``|x|^2 + |y|^2 - 2 x.y``.
"""

from __future__ import annotations

import numpy as np

BLOCK = 1 << 22  # values per temporary block (16 MiB of float32)


def sq_dists(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(m, n) squared L2 distances by GEMM, clamped at 0 (fast, approximate for near-duplicates)."""
    qn = np.einsum("ij,ij->i", queries, queries)[:, None]
    pn = np.einsum("ij,ij->i", points, points)[None, :]
    out = queries @ points.T
    out *= -2.0
    out += qn
    out += pn
    np.maximum(out, 0.0, out=out)
    return out


def pair_distances(x: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """L2 distance between rows ``x[a[i]]`` and ``y[b[i]]`` (``y`` defaults to ``x``) for each i, from the
    differences (exact up to float32 rounding); float32, +inf where ``b`` is -1."""
    y = x if y is None else y
    out = np.full(len(a), np.inf, dtype=np.float32)
    ok = np.flatnonzero(b >= 0)
    step = max(1, BLOCK // max(1, x.shape[1]))
    for s in range(0, len(ok), step):
        sel = ok[s : s + step]
        diff = x[a[sel]] - y[b[sel]]
        out[sel] = np.sqrt(np.square(diff, out=diff).sum(axis=1, dtype=np.float64)).astype(np.float32)
    return out


def sort_lists(dist: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (n, m) (dist, nbr) sorted by distance, ties by neighbour row (so lists are canonical)."""
    key = np.where(nbr < 0, np.iinfo(np.int64).max, nbr)
    order = _lexsort_rows(dist, key)
    return np.take_along_axis(dist, order, axis=-1), np.take_along_axis(nbr, order, axis=-1)


def _lexsort_rows(dist: np.ndarray, key: np.ndarray) -> np.ndarray:
    by_key = np.argsort(key, axis=1, kind="stable")
    by_dist = np.argsort(np.take_along_axis(dist, by_key, axis=1), axis=1, kind="stable")
    return np.take_along_axis(by_key, by_dist, axis=1)


class Graph:
    """The k-NN lists of every row, grown in place as rows are added."""

    def __init__(self, k: int, capacity: int = 0) -> None:
        self.k = k
        self.dist = np.full((capacity, k), np.inf, dtype=np.float32)
        self.nbr = np.full((capacity, k), -1, dtype=np.int64)

    def reserve(self, capacity: int) -> None:
        if capacity > len(self.dist):
            extra = capacity - len(self.dist)
            self.dist = np.vstack([self.dist, np.full((extra, self.k), np.inf, dtype=np.float32)])
            self.nbr = np.vstack([self.nbr, np.full((extra, self.k), -1, dtype=np.int64)])

    def kth(self, rows: np.ndarray | slice) -> np.ndarray:
        """The k-th neighbour distance of ``rows`` (+inf while fewer than k other points exist)."""
        return self.dist[rows, -1]

    def set_lists(self, x: np.ndarray, rows: np.ndarray, found: np.ndarray) -> None:
        """Make ``found`` (n, >= k) candidate rows (-1 pads; may include the row itself and repeats of -1)
        the lists of ``rows``: the row itself is dropped by id, distances recomputed, k nearest kept."""
        self.dist[rows], self.nbr[rows] = lists_of(x, rows, found, self.k)

    def merge(self, x: np.ndarray, targets: np.ndarray, sources: np.ndarray) -> np.ndarray:
        """Offer ``sources[i]`` as a neighbour of ``targets[i]`` (pairs; sources not yet in the lists).
        Each target keeps its k nearest of old list + offers. Returns the rows whose list changed."""
        rows, dist, nbr = self.merged(x, targets, sources)
        self.dist[rows], self.nbr[rows] = dist, nbr
        return rows

    def merged(self, x: np.ndarray, targets: np.ndarray, sources: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``merge`` without writing (for an add staged beside readers): (rows whose lists change, their new
        dist, their new nbr)."""
        k = self.k
        empty = (np.zeros(0, np.int64), np.zeros((0, k), np.float32), np.zeros((0, k), np.int64))
        if not len(targets):
            return empty
        d = pair_distances(x, targets, sources)
        useful = d < self.dist[targets, -1]
        targets, sources, d = targets[useful], sources[useful], d[useful]
        if not len(targets):
            return empty
        _, once = np.unique(targets * np.int64(len(self.dist) + 1) + sources, return_index=True)
        targets, sources, d = targets[once], sources[once], d[once]  # a pair offered twice counts once
        rows = np.unique(targets)
        who = np.concatenate([np.repeat(rows, k), targets])
        nb = np.concatenate([self.nbr[rows].ravel(), sources])
        dd = np.concatenate([self.dist[rows].ravel(), d])
        order = np.lexsort((np.where(nb < 0, np.iinfo(np.int64).max, nb), dd, who))
        who, nb, dd = who[order], nb[order], dd[order]
        first = np.searchsorted(who, who, side="left")
        keep = (np.arange(len(who)) - first) < k  # every row has >= k entries: its old (padded) list
        return rows, dd[keep].reshape(len(rows), k), nb[keep].reshape(len(rows), k)

    def drop(self, rows: np.ndarray) -> None:
        self.dist[rows] = np.inf
        self.nbr[rows] = -1

    def pointing_to(self, rows: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """Alive rows that have any of ``rows`` among their neighbours."""
        mark = np.zeros(len(self.nbr) + 1, dtype=bool)  # the extra last cell absorbs the -1 pads
        mark[rows] = True
        hit = mark[self.nbr].any(axis=1) & alive[: len(self.nbr)]
        return np.flatnonzero(hit)


def lists_of(x: np.ndarray, rows: np.ndarray, found: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``Graph.set_lists`` without writing: the k nearest of ``found`` (n, m) candidate rows (-1 pads; the row
    itself dropped by id), distances recomputed, as (dist, nbr) (n, k)."""
    found = np.where(found == rows[:, None], -1, found)
    if found.shape[1] < k:  # a population of fewer than k + 1 points: pad the lists
        found = np.hstack([found, np.full((len(found), k - found.shape[1]), -1, dtype=found.dtype)])
    dist = pair_distances(x, np.repeat(rows, found.shape[1]), found.ravel()).reshape(found.shape)
    dist, found = sort_lists(dist, found)
    return dist[:, :k], found[:, :k]
