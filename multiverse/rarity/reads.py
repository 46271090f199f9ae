"""Reads over a population: scores of members and of ad hoc vectors, neighbours, calibration, ranked pages.

Everything is computed from the current k-NN lists at read time, so a score always matches the index version
it names; ranked pages and the calibration are cached per (index version, calibration version).
"""

from __future__ import annotations

import base64
import json

import faiss
import numpy as np

from multiverse.errors import InvalidArgument
from multiverse.rarity import calibrate as cal
from multiverse.rarity.embed import content_hash
from multiverse.rarity.knn import pair_distances, sort_lists
from multiverse.rarity.memo import cached
from multiverse.rarity.population import Population
from multiverse.rarity.score import densities, floor_of, kth_distance, lrd, rarity, reference_rarity
from multiverse.rarity.types import Neighbor, RarityScore, VectorId

MAX_PAGE = 1000
_TIER_EDGES = np.array([lower for _, lower in cal.TIERS[1:]])


def calibrate(pop: Population) -> cal.Calibration:
    """Fit the calibration (density floor and score quantiles) to the population's current lists."""
    rows = pop.alive_rows()
    own, ref, _ = _densities_all(pop, rows)
    floor = floor_of(own, pop.config.floor_quantile)
    pop.calibration = cal.fit(rarity(own, ref, floor), index_version=pop.index_version, floor=floor)
    return pop.calibration


def ensure_calibrated(pop: Population) -> cal.Calibration:
    """The calibration, refitted first when missing or when the population changed by recalibrate_growth."""
    c = pop.calibration
    if c is None or abs(pop.n_alive - c.n) > pop.config.recalibrate_growth * max(c.n, 1):
        c = calibrate(pop)
    return c


def _densities_all(pop: Population, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lrd, ref, lrd of every alive row (n_rows + 1,)) of ``rows``, computing each row's lrd once. Every alive
    row's, not only those of ``rows``: a neighbour outside ``rows`` (another world's point, when a page is of
    some worlds only) weighs in the reference density all the same."""
    k_eff, g = pop.k_eff, pop.graph
    dens = np.zeros(pop.n_rows + 1)  # the extra last cell is read by -1 pads, which are masked anyway
    if k_eff == 0 or not len(rows):
        return np.ones(len(rows)), np.ones(len(rows)), dens
    alive = pop.alive_rows()
    dens[alive] = lrd(g.dist, g.nbr, alive, k_eff)
    own, ref = densities(g.dist, g.nbr, g.dist[rows], g.nbr[rows], rows, k_eff, lrd_all=dens)
    return own, ref, dens


def member_arrays(pop: Population, rows: np.ndarray, *, everyone: bool = False) -> tuple[np.ndarray, ...]:
    """(knn distance, local ratio, score) of population rows; ``everyone`` when rows are most of the population
    (each lrd is then computed once)."""
    c = ensure_calibrated(pop)
    k_eff, g = pop.k_eff, pop.graph
    knn = kth_distance(g.dist, rows, k_eff)
    if everyone:
        own, ref, _ = _densities_all(pop, rows)
    else:
        own, ref = densities(g.dist, g.nbr, g.dist[rows], g.nbr[rows], rows, k_eff)
    return knn, ref / own, rarity(own, ref, c.floor)


def member_scores(pop: Population, rows: np.ndarray, keys: np.ndarray, *, reference: bool = True) -> list[RarityScore]:
    """Scores of population rows, each named by the key position given for it."""
    rows = np.asarray(rows, dtype=np.int64)
    knn, local, score = member_arrays(pop, rows)
    ref = _member_reference(pop, rows) if reference else (np.full(len(rows), np.nan), np.zeros(len(rows), bool))
    copies = pop.registry.copies(pop.n_rows)[rows]
    return _records(pop, [_vid(pop, p) for p in keys], knn, local, score, ref, copies, keys)


def vector_scores(pop: Population, vectors: np.ndarray) -> list[RarityScore]:
    """Scores of vectors that are not added: against the population as it is. A vector equal to a point of the
    population gets that point's score (and the point's first id)."""
    emb = pop.embedder.embed(vectors, field=f"{pop.kind}s")
    out: list[RarityScore | None] = [None] * len(emb)
    member = _find_members(pop, emb)
    known = np.flatnonzero(member >= 0)
    if len(known):
        first = pop.registry.first_keys(pop.n_rows)[member[known]]
        for i, s in zip(known.tolist(), member_scores(pop, member[known], first)):
            out[i] = s
    new = np.flatnonzero(member < 0)
    if len(new):
        c = ensure_calibrated(pop)
        k_eff, g = pop.k_eff, pop.graph
        qdist, qnbr = _search(pop, emb[new], max(k_eff, 1), exclude=None)
        knn = qdist[:, k_eff - 1] if k_eff else np.full(len(new), np.inf, np.float32)
        own, dref = densities(g.dist, g.nbr, qdist, qnbr, np.full(len(new), -1), k_eff)
        ref = _reference(pop, emb[new], None)
        recs = _records(pop, [None] * len(new), knn, dref / own, rarity(own, dref, c.floor), ref,
                        np.zeros(len(new), np.int64), None)
        for i, s in zip(new.tolist(), recs):
            out[i] = s
    return [s for s in out if s is not None]


def _find_members(pop: Population, emb: np.ndarray) -> np.ndarray:
    rows = np.full(len(emb), -1, dtype=np.int64)
    for i, h in enumerate(content_hash(emb).tolist()):
        for r in pop.by_hash.get(h, ()):
            if pop.alive[r] and np.array_equal(pop.x[r], emb[i]):
                rows[i] = r
                break
    return rows


def _search(pop: Population, q: np.ndarray, k: int, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """k nearest alive rows of each query, distances recomputed exactly; ``exclude`` (n,) rows left out."""
    extra = 0 if exclude is None else 1
    _, found = pop.index.search(q, k + extra)
    if exclude is not None:
        found = np.where(found == exclude[:, None], -1, found)
    short = ((found >= 0).sum(axis=1) < min(k, pop.n_alive - extra))
    if short.any():  # an IVF probe found too few: search those exhaustively
        alive = pop.alive_rows()
        _, pos = faiss.knn(q[short], pop.x[alive], min(k + extra, len(alive)))
        fill = np.where(pos >= 0, alive[pos], -1)
        if exclude is not None:
            fill = np.where(fill == exclude[short][:, None], -1, fill)
        merged = np.full((len(q), max(found.shape[1], fill.shape[1])), -1, dtype=np.int64)
        merged[:, : found.shape[1]] = found
        merged[short] = -1
        merged[short, : fill.shape[1]] = fill
        found = merged
    qi = np.repeat(np.arange(len(q)), found.shape[1])
    dist = pair_distances(q, qi, found.ravel(), pop.x).reshape(found.shape)
    dist, found = sort_lists(dist, found)
    return dist[:, :k], found[:, :k]


def _member_reference(pop: Population, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Han et al.'s rarity of population rows: every row's computed once per index version (one pass over all the
    lists costs what a pass for one row does), then looked up."""
    best, uncharted = cached(pop.cache, ("reference", pop.index_version), lambda: _reference_of(pop, pop.alive_rows()))
    return best[rows], uncharted[rows]


def _reference_of(pop: Population, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Han et al.'s rarity of population rows, from the k-NN lists: a point's k-NN ball holds exactly the points
    of its list (ties at the radius aside), so the balls holding x are those of the rows that list x. One
    vectorised pass over the lists (no distance computations); the same answer for one row or all of them.
    Indexed by row (``n_rows`` entries; rows not asked for are NaN)."""
    k_eff = pop.k_eff
    n = pop.n_rows
    if k_eff == 0:
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    slot = np.full(n + 1, -1, dtype=np.int32 if len(rows) < 2**31 else np.int64)  # last cell: the -1 pads
    slot[rows] = np.arange(len(rows))
    radius = pop.graph.dist[:n, k_eff - 1].astype(np.float64)
    best = np.full(len(rows), np.inf)
    step = max(1, (1 << 22) // k_eff)
    for s in range(0, n, step):
        pos = slot[pop.graph.nbr[s : s + step, :k_eff]]  # (block, k_eff): which asked row each entry is, or -1
        src, col = np.nonzero(pos >= 0)
        np.minimum.at(best, pos[src, col], radius[s + src])
    uncharted = ~np.isfinite(best)
    best[uncharted] = np.nan
    by_row, flag = np.full(n, np.nan), np.ones(n, dtype=bool)
    by_row[rows], flag[rows] = best, uncharted
    return by_row, flag


def _reference(pop: Population, q: np.ndarray, own: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Han et al.'s rarity of each query against the population (its own row left out)."""
    k_eff = pop.k_eff
    if k_eff == 0:
        return np.full(len(q), np.nan), np.ones(len(q), dtype=bool)
    radius = pop.graph.dist[: pop.n_rows, k_eff - 1]
    qi, rows = pop.ball_candidates(q, radius)
    if own is not None:
        keep = rows != own[qi]
        qi, rows = qi[keep], rows[keep]
    d = pair_distances(q, qi, rows, pop.x)
    return reference_rarity(qi, rows, d, radius, len(q))


def _vid(pop: Population, key: int) -> VectorId:
    snapshot, index, _ = pop.registry.describe_key(int(key))
    return VectorId(snapshot, pop.kind, index)


def _records(
    pop: Population,
    ids: list[VectorId | None],
    knn: np.ndarray,
    local: np.ndarray,
    score: np.ndarray,
    ref: tuple[np.ndarray, np.ndarray],
    copies: np.ndarray,
    keys: np.ndarray | None,
) -> list[RarityScore]:
    c = ensure_calibrated(pop)
    pct = c.percentile(score)
    low, high = c.interval(pct, recall_error=recall_error(pop))
    rarity, uncharted = ref
    version, n, used = pop.index_version, pop.n_alive, pop.k_eff
    out = []
    for i, vid in enumerate(ids):
        world = pop.registry.describe_key(int(keys[i]))[2] if keys is not None else None
        out.append(
            RarityScore(
                id=vid,
                score=float(score[i]),
                percentile=float(pct[i]),
                tier=cal.tier_of(float(pct[i])),
                knn_distance=float(knn[i]),
                local_ratio=float(local[i]),
                reference_rarity=None if uncharted[i] else float(rarity[i]),
                uncharted=bool(uncharted[i]),
                neighbors_used=used,
                copies=int(copies[i]),
                world=world,
                index_version=version,
                n=n,
                calibration_version=c.version,
                percentile_low=float(low[i]),
                percentile_high=float(high[i]),
                tier_uncertain=cal.straddles(float(low[i]), float(high[i])),
            )
        )
    return out


def recall_error(pop: Population) -> float:
    """The share of true neighbours the index may miss: 0 for the exact index; for IVF, 1 - its measured recall
    (1 - the target recall when nprobe was set by hand and nothing was measured)."""
    ix = pop.index
    if ix.kind != "ivf":
        return 0.0
    recall = ix.measured_recall if ix.measured_recall is not None else pop.config.index.target_recall
    return max(0.0, 1.0 - float(recall))


def neighbors(
    pop: Population, q: np.ndarray, k: int, *, own: int | None = None, world: int | None = None
) -> list[Neighbor]:
    """The k nearest points to the embedded vector ``q`` (d,) (its own row ``own`` left out), each named by its
    first id (in ``world`` when given; points with no id there are skipped)."""
    first = pop.registry.first_keys(pop.n_rows, world)
    copies = pop.registry.copies(pop.n_rows)
    exclude = None if own is None else np.array([own])
    want = k
    while True:
        dist, found = _search(pop, q[None, :], want, exclude)
        keep = (found[0] >= 0) & (first[np.maximum(found[0], 0)] >= 0)
        rows, dist = found[0][keep], dist[0][keep]
        if len(rows) >= k or want >= pop.n_alive:
            break
        want = min(pop.n_alive, want * 4)
    return [Neighbor(_vid(pop, first[r]), float(d), int(copies[r])) for r, d in zip(rows[:k].tolist(), dist[:k])]


def top_rare(
    pop: Population, *, tier: str | None, world: int | None, limit: int, cursor: str
) -> tuple[list[RarityScore], str]:
    """A page of points, rarest first (ties by snapshot and index of their first id), optionally of one tier and
    one world; returns (page, next_cursor), next_cursor "" on the last page. Every row's score is computed once
    per (index version, calibration version) and each world filter's ranking once from those; a page is then a
    binary search for the cursor and a slice (a tier filter scans from there)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument("limit", limit, f"ask for 1 to {MAX_PAGE} vectors a page")
    c = ensure_calibrated(pop)
    version = (pop.index_version, c.version)
    score, tiers = cached(pop.cache, ("scores", *version), lambda: _all_scores(pop, c))
    r = cached(pop.cache, ("ranked", *version, world), lambda: _ranking(pop, world, score, tiers))
    start = _after(r, _decode(cursor)) if cursor else 0
    if tier is not None:
        picked = start + np.flatnonzero(r["tier"][start:] == cal.TIER_NAMES.index(cal.check_tier(tier)))[: limit + 1]
    else:
        picked = np.arange(start, min(start + limit + 1, len(r["rows"])))
    page = picked[:limit]
    items = member_scores(pop, r["rows"][page], r["first"][page]) if len(page) else []
    more = len(picked) > limit
    last = page[-1] if len(page) else 0
    token = _encode(float(r["score"][last]), int(r["sid"][last]), int(r["idx"][last])) if more else ""
    return items, token


def _all_scores(pop: Population, c: cal.Calibration) -> tuple[np.ndarray, np.ndarray]:
    """(score, tier index) of every row (n_rows entries; rows no longer alive score -inf)."""
    rows = pop.alive_rows()
    score = np.full(pop.n_rows, -np.inf)
    if len(rows):
        score[rows] = member_arrays(pop, rows, everyone=True)[2]
    tiers = np.searchsorted(_TIER_EDGES, c.percentile(np.where(np.isfinite(score), score, 0.0)), side="right")
    return score, tiers.astype(np.int8)


def _ranking(pop: Population, world: int | None, score: np.ndarray, tiers: np.ndarray) -> dict[str, np.ndarray]:
    """The rows with an id (in ``world``, when given), rarest first, ties by their first id's snapshot and index."""
    rows = pop.alive_rows()
    first = pop.registry.first_keys(pop.n_rows, world)[rows]
    rows, first = rows[first >= 0], first[first >= 0]
    sid, idx = pop.registry.key_snap[first], pop.registry.key_index[first]
    order = np.lexsort((idx, sid, -score[rows]))
    return {"rows": rows[order], "first": first[order], "score": score[rows][order], "tier": tiers[rows][order],
            "sid": sid[order], "idx": idx[order]}


def _after(r: dict[str, np.ndarray], at: tuple[float, int, int]) -> int:
    """The position of the first ranked entry after the cursor's (score, snapshot, index), by binary search over
    the ranking's order (score descending, then snapshot and index ascending)."""
    s0, sid0, idx0 = at
    score, sid, idx = r["score"], r["sid"], r["idx"]
    lo, hi = 0, len(score)
    while lo < hi:
        mid = (lo + hi) // 2
        if (-score[mid], sid[mid], idx[mid]) <= (-s0, sid0, idx0):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _encode(score: float, sid: int, idx: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([score.hex(), sid, idx]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[float, int, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return float.fromhex(raw[0]), int(raw[1]), int(raw[2])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidArgument("cursor", cursor, "pass the next_cursor of the previous page, or \"\" to start") from exc
