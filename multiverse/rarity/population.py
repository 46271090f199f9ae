"""One population: every distinct vector of one kind ("frame" | "player") of one latent space, its FAISS index
and k-NN lists, kept exact under adds and removals. Reads (scores, pages) live in ``reads.py``.

Points are rows of ``x``; a row never changes number until a compacting ``rebuild``. Adding a batch Q (worked
out by ``stage`` beside what readers see, then published by a short ``commit``: ``stage.py``):

1. embed, collapse exact duplicates (by content hash, then by comparing the vectors) onto existing or new rows;
2. search the new rows' k nearest (self excluded by row id, not by position) in the index and within the batch;
3. find the earlier points whose k-NN ball (radius r_k) contains a new point (a "ball query": exhaustive by GEMM
   on a flat index, on the torch device where a torch backend searches it; on IVF a range search over the probed
   lists for the bulk of the points plus an exhaustive pass over the widest 1% of balls) and merge the new
   points into their lists: exactly the lists a rebuild computes, on the flat index.

A batch at least as large as the population is scored in bulk instead (index rebuilt, every list searched).
"""

from __future__ import annotations

import faiss
import numpy as np

from multiverse.errors import AlreadyExists
from multiverse.rarity import calibrate, chunkrows
from multiverse.rarity import stage as stage_mod
from multiverse.rarity.embed import Embedder
from multiverse.rarity.ids import Registry
from multiverse.rarity.index import VectorIndex
from multiverse.rarity.knn import BLOCK, Graph, sq_dists
from multiverse.rarity.score import effective_k
from multiverse.rarity.types import RarityConfig

WIDE_QUANTILE = 0.99  # on IVF, balls wider than this quantile of radii are checked exhaustively
SLACK = 1e-3  # relative slack on GEMM distance filters; exact checks follow on recomputed distances


class Population:
    def __init__(self, kind: str, embedder: Embedder, config: RarityConfig) -> None:
        self.kind = kind
        self.embedder = embedder
        self.config = config
        self.k = config.k
        self.dim = embedder.out_dim
        self.x = np.zeros((0, self.dim), dtype=np.float32)
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.alive = np.zeros(0, dtype=bool)
        self.n_rows = 0
        self.graph = Graph(self.k)
        self.index = VectorIndex(self.dim, config.index)
        self.registry = Registry()
        self.by_hash: dict[int, list[int]] = {}
        self.build = 0
        self.revision = 0
        self.calibration: calibrate.Calibration | None = None
        self.deferred = False  # inside RarityEngine.bulk(): rows are added unlinked, relinked at the end
        self.cache: dict = {}  # reads.py's memos (rarity/memo.py), keyed by index and calibration version
        self.chunk_rows = chunkrows.ChunkRows()  # which rows each scored chunk's vectors are (chunkrows.py); a cache
        self._alive_count: tuple[tuple, int] = ((), 0)

    # -- state -----------------------------------------------------------------------------------------
    @property
    def index_version(self) -> str:
        return f"{self.kind}.b{self.build}.r{self.revision}"

    @property
    def n_alive(self) -> int:
        """Rows alive now: counted once per index version (a page of reads asks often; a count is a pass over
        every row)."""
        key = (self.build, self.revision, self.n_rows, id(self.alive))
        if self._alive_count[0] != key:
            self._alive_count = (key, int(self.alive[: self.n_rows].sum()))
        return self._alive_count[1]

    def alive_changed(self) -> None:
        """Forget the alive count (whoever flips ``alive`` in place calls this)."""
        self._alive_count = ((), 0)

    @property
    def k_eff(self) -> int:
        return effective_k(self.k, self.n_alive)

    def alive_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n_rows])

    def radius(self) -> np.ndarray:
        """Each row's k-NN ball radius at the full k (+inf while its list is not full), (n_rows,)."""
        return self.graph.dist[: self.n_rows, -1]

    # -- adding ----------------------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, snapshot: str, world: str, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Add one snapshot's vectors of this kind. Returns (row per input, rows whose lists changed, number of
        new distinct points). Adding a snapshot that is already here with the same vectors changes nothing."""
        st = self.stage([(vectors, snapshot, world, indices)])
        if isinstance(st.outcomes[0], Exception):
            raise st.outcomes[0]
        self.commit(st)
        rows, n_new = st.outcomes[0]
        return rows, st.changed, n_new

    def add_many(
        self, batch: list[tuple[np.ndarray, str, str, np.ndarray]]
    ) -> tuple[list[tuple[np.ndarray, int] | Exception], np.ndarray]:
        """Add several snapshots' vectors ((vectors, snapshot, world, indices) each) and link the new points once:
        the lists come out as a snapshot-by-snapshot ``add`` leaves them, for one search of the whole batch (a
        backlog of small saves costs a few batches, not one search each). Returns, per snapshot, (row per input,
        new distinct points) or the error that refused it (nothing of it added), and the rows whose lists
        changed."""
        st = self.stage(batch)
        self.commit(st)
        return st.outcomes, st.changed

    def stage(self, batch: list[tuple[np.ndarray, str, str, np.ndarray]]) -> stage_mod.Staged:
        """What adding ``batch`` changes, worked out without publishing it (``stage.py``); ``commit`` publishes.
        Inside ``RarityEngine.bulk()`` (``deferred``) rows are added unlinked. A snapshot's vectors may come as
        ``chunkrows.Pieces``: those of chunks already scored are registered onto their rows, the rest embedded."""
        batch, pieces = chunkrows.resolve(self, batch)
        st = stage_mod.stage(self, batch, link=not self.deferred)
        st.pieces = pieces
        return st

    def commit(self, staged: stage_mod.Staged) -> None:
        stage_mod.commit(self, staged)
        chunkrows.remember(self, staged.pieces, staged)

    def _re_add(self, snapshot: str, emb: np.ndarray, indices: np.ndarray) -> np.ndarray:
        pos = self.registry.snapshot_keys(snapshot)
        known = dict(zip(self.registry.key_index[pos].tolist(), self.registry.key_row[pos].tolist()))
        rows = np.array([known.get(int(i), -1) for i in indices], dtype=np.int64)
        if len(known) != len(indices) or (rows < 0).any() or not np.array_equal(self.x[rows], emb):
            raise AlreadyExists(
                f"snapshot {snapshot} already has {len(known)} {self.kind} vectors in the rarity index that differ "
                f"from these {len(indices)}: a snapshot id names one immutable state; remove it first to replace it",
                snapshot=snapshot,
            )
        return rows

    def reserve(self, need: int) -> None:
        """Room for ``need`` rows. Arrays grow by copying into new ones, never in place, so a reader holding the
        old array still sees the same values in every row it can see."""
        if need > len(self.x):
            cap = max(need + need // 4, int(1.5 * len(self.x)), 1024)  # headroom: the next saves do not copy
            self.x = _grow(self.x, cap)
            self.hashes = _grow(self.hashes, cap)
            self.alive = _grow(self.alive, cap)
            self.graph.reserve(cap)

    def relink(self) -> None:
        """Rebuild the index over the alive rows and search every list again."""
        rows = self.alive_rows()
        self.index.build(self.x[rows], rows, self.k)
        self.graph.drop(np.flatnonzero(~self.alive[: self.n_rows]))
        self._search_lists(rows, bulk=True)

    def _search_lists(self, rows: np.ndarray, *, bulk: bool = False) -> None:
        rows, dist, nbr = stage_mod.search_lists(self.x, self.index, rows, self.alive_rows(), self.k, self.k_eff,
                                                 bulk=bulk)
        self.graph.dist[rows], self.graph.nbr[rows] = dist, nbr

    def ball_candidates(
        self, queries: np.ndarray, radius: np.ndarray, *, nearest: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (query i, row) where the query may lie in the row's ball (distance <= radius[row]), a superset
        within float slack: exhaustive on a flat index, probed lists + exhaustive wide balls on IVF.
        ``nearest`` > 0: a wide ball offers only its ``nearest`` closest queries (enough to update a k-NN list;
        an outlier's wide ball may hold every query of a batch)."""
        rows = self.alive_rows()
        if self.index.kind == "flat":
            on_device = self.index.ball_pairs(queries, rows, radius, SLACK, SLACK * 1e-2)  # a torch backend
            if on_device is not None:
                return on_device
            if nearest and len(queries) > nearest:  # each row's nearest queries, by FAISS's fused top-k
                return _nearest_within(queries, self.x, rows, radius, nearest)
            return _gemm_within(queries, self.x, rows, radius)
        r = radius[rows]
        finite = r[np.isfinite(r)]
        cap = float(np.quantile(finite, WIDE_QUANTILE)) if len(finite) else 0.0
        qi, hit, d2 = self.index.range_pairs(queries, cap * cap * (1 + SLACK))
        wide = rows[~(r <= cap)]  # searched exhaustively below, so left out of the probed hits here
        near = (d2 <= radius[hit].astype(np.float64) ** 2 * (1 + SLACK)) & (radius[hit] <= cap)
        if nearest and len(wide) and len(queries) > nearest:
            qw, hw = _nearest_within(queries, self.x, wide, radius, nearest)
        else:
            qw, hw = _gemm_within(queries, self.x, wide, radius)
        return np.concatenate([qi[near], qw]), np.concatenate([hit[near], hw])

    # -- removing and rebuilding -----------------------------------------------------------------------
    def remove_snapshot(self, snapshot: str) -> tuple[int, np.ndarray]:
        """Drop a snapshot's ids; points no id holds any more leave the index, and the lists that held them are
        searched again. Returns (ids removed, rows whose lists changed)."""
        pos = self.registry.snapshot_keys(snapshot)
        rows = self.registry.remove_snapshot(snapshot)
        gone = rows[self.registry.copies(self.n_rows)[rows] == 0]
        if len(gone):
            self.alive[gone] = False
            self.alive_changed()
            self.index.remove(gone)
            for r in gone.tolist():
                self.by_hash[int(self.hashes[r])].remove(r)
            self.graph.drop(gone)
            self.chunk_rows.clear()  # it may name rows that died (chunkrows.py: a cache)
            touched = self.graph.pointing_to(gone, self.alive)
            self._search_lists(touched)
        else:
            touched = np.zeros(0, np.int64)
        self.revision += 1
        return len(pos), touched

    def rebuild(self) -> None:
        """Renumber the alive rows densely, retrain the index and recompute every list (a new build)."""
        keep = self.alive_rows()
        new_row = np.full(self.n_rows + 1, -1, dtype=np.int64)
        new_row[keep] = np.arange(len(keep))
        self.x, self.hashes = self.x[keep].copy(), self.hashes[keep].copy()
        self.alive = np.ones(len(keep), dtype=bool)
        self.n_rows = len(keep)
        self.alive_changed()
        self.graph = Graph(self.k, len(keep))
        self.registry.remap(new_row)
        self.by_hash = {}
        for r, h in enumerate(self.hashes.tolist()):
            self.by_hash.setdefault(h, []).append(r)
        self.relink()
        self.build += 1
        self.revision = 0


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap,) + a.shape[1:], dtype=a.dtype)
    out[: len(a)] = a
    return out


def _nearest_within(
    queries: np.ndarray, x: np.ndarray, rows: np.ndarray, radius: np.ndarray, nearest: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (query i, row) for each of ``rows``' ``nearest`` closest queries that lie within slack of its ball:
    all a k-NN list can take from the queries when ``nearest`` is k (FAISS's exhaustive search with its fused
    top-k: about half the cost of testing every pair by GEMM, which the worker did for every batch)."""
    pts = x[rows]
    d2, pos = faiss.knn(pts, queries, nearest)  # (rows, nearest): each row's closest queries
    qn = np.einsum("ij,ij->i", queries, queries)
    tol = SLACK * 1e-2 * (np.einsum("ij,ij->i", pts, pts)[:, None] + qn[np.maximum(pos, 0)])  # GEMM rounding
    inside = (pos >= 0) & (d2 <= (radius[rows].astype(np.float64) ** 2 * (1 + SLACK))[:, None] + tol)
    return pos[inside].astype(np.int64), np.broadcast_to(rows[:, None], pos.shape)[inside]


def _gemm_within(
    queries: np.ndarray, x: np.ndarray, rows: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive ball test by GEMM over ``rows``: pairs (query i, row) with squared distance within slack of
    radius[row]^2."""
    out_q, out_r = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    if not len(rows) or not len(queries):
        return out_q[0], out_r[0]
    step = max(1, BLOCK // max(1, len(queries)))
    qn = np.einsum("ij,ij->i", queries, queries)[:, None]
    for s in range(0, len(rows), step):
        part = rows[s : s + step]
        pts = x[part]
        d2 = sq_dists(queries, pts)
        r2 = radius[part].astype(np.float32) ** 2
        tol = SLACK * (qn + np.einsum("ij,ij->i", pts, pts)[None, :]) * 1e-2
        qi, j = np.nonzero(d2 <= r2[None, :] * (1 + SLACK) + tol)
        out_q.append(qi.astype(np.int64))
        out_r.append(part[j])
    return np.concatenate(out_q), np.concatenate(out_r)
