"""Adding to a population in two phases, so that reads never wait for the expensive part (issue 16, item 6).

``stage(pop, batch)`` works out everything a batch of snapshots changes: embeds it (one projection for the batch),
collapses duplicates, searches the new points' lists and finds the earlier points whose k-NN balls they enter,
and computes those points' new lists. It reads the population and writes nothing a reader can see: new rows go
past ``n_rows`` (arrays are grown by copying, so a reader still holding the old array sees the same values in
every row it can see), and a retrained index or a relinked graph is built beside the current one. ``commit(pop,
staged)`` then publishes it in a short step: the rows turn alive, the ids are registered, the rows are added to
the index (or the new index is swapped in), the changed lists are written and the revision moves on.

Only one writer stages at a time (the engine's writer lock), and readers run beside it: FAISS searches may run
concurrently with each other, but not with an add, so the index is only added to in ``commit``, which runs under
the lock readers take. ``preview`` gives the population as the commit will leave it (a copy of the lists with
the changes applied), for fitting a calibration that is due before it is published.

The lists come out as ``Population.add`` one snapshot at a time leaves them: a new point's list is the k nearest
of its k + 1 nearest in the current index and its k + 1 nearest within the batch, recomputed exactly; an earlier
point's list takes the new points inside its ball (``Population.ball_candidates``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import faiss
import numpy as np

from multiverse.errors import AlreadyExists, InvalidArgument
from multiverse.rarity.chunkrows import Embedded
from multiverse.rarity.embed import content_hash
from multiverse.rarity.index import VectorIndex
from multiverse.rarity.knn import Graph, lists_of, pair_distances, sort_lists
from multiverse.rarity.score import effective_k

if TYPE_CHECKING:
    from multiverse.rarity.calibrate import Calibration
    from multiverse.rarity.population import Population

# (vectors, snapshot, world, indices) of one snapshot's vectors of one kind; the vectors may come embedded already,
# with the rows some of them are known to be (chunkrows.Embedded: frames in chunks already scored)
Item = tuple["np.ndarray | Embedded", str, str, np.ndarray]


@dataclass
class Staged:
    """What a batch changes, worked out against the population at revision ``revision`` with ``n0`` rows."""

    n0: int
    revision: int
    outcomes: list[tuple[np.ndarray, int] | Exception]  # per item: (row per input, new points) or its refusal
    register: list[tuple[str, str, np.ndarray, np.ndarray]]  # (snapshot, world, indices, rows) to register
    fresh: int  # items that are new snapshots (each moves the revision on)
    new_rows: np.ndarray  # rows n0 .. n0 + m - 1, written past n_rows
    linked: bool  # False inside RarityEngine.bulk(): rows are added unlinked, relinked at the end
    index: VectorIndex | None = None  # a rebuilt index to swap in (None: add the new rows to the current one)
    graph: Graph | None = None  # a whole graph to swap in (a relink, or a preview's copy)
    lists: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (rows, dist, nbr) written at commit
    changed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # earlier rows whose lists change
    calibration: Calibration | None = None  # fitted on the preview when due: published with the rows
    pieces: list = field(default_factory=list)  # (item, chunkrows.Pieces) to remember at commit

    @property
    def n_after(self) -> int:
        return self.n0 + len(self.new_rows)


def stage(pop: Population, batch: list[Item], *, link: bool = True) -> Staged:
    """Work out what adding ``batch`` (in order) does to ``pop`` without publishing anything (module docstring)."""
    n0 = pop.n_rows
    embedded = _embed(pop, batch)
    outcomes: list[tuple[np.ndarray, int] | Exception] = []
    register: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    staged_snaps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    blocks: list[np.ndarray] = []
    pending: dict[int, list[int]] = {}  # hash -> new rows of this batch
    hashes_new: list[int] = []
    fresh = 0
    for (vectors, snapshot, world, indices), emb in zip(batch, embedded):
        if isinstance(emb, Exception):
            outcomes.append(emb)
            continue
        if len(indices) != len(emb):
            outcomes.append(InvalidArgument("indices", f"{len(indices)} indices",
                                            f"give one index per vector ({len(emb)})"))
            continue
        try:
            if pop.registry.has_snapshot(snapshot):
                outcomes.append((pop._re_add(snapshot, emb, indices), 0))
                continue
            if snapshot in staged_snaps:
                outcomes.append((_re_add_staged(pop, snapshot, staged_snaps[snapshot], emb, indices, blocks, n0), 0))
                continue
        except Exception as exc:  # a changed re-add: refused, nothing of it added
            outcomes.append(exc)
            continue
        rows = np.full(len(emb), -1, dtype=np.int64)
        mine: list[int] = []
        base = n0 + len(hashes_new)  # this snapshot's new rows start here (a frame may repeat within it)
        todo, look = range(len(emb)), emb
        if isinstance(vectors, Embedded):  # known rows: registered as they are, neither looked up nor added
            todo = np.flatnonzero(vectors.known < 0).tolist()
            rows[vectors.known >= 0] = vectors.known[vectors.known >= 0]
            look = emb[todo]
        for i, h in zip(todo, content_hash(look).tolist()):
            for r in pop.by_hash.get(h, ()):
                if np.array_equal(pop.x[r], emb[i]):
                    rows[i] = r
                    break
            else:
                for r in pending.get(h, ()):
                    if np.array_equal(emb[mine[r - base]] if r >= base else _new_vector(blocks, r - n0), emb[i]):
                        rows[i] = r
                        break
                else:
                    rows[i] = n0 + len(hashes_new)
                    pending.setdefault(h, []).append(int(rows[i]))
                    hashes_new.append(h)
                    mine.append(i)
        if mine:
            blocks.append(emb[mine])
        staged_snaps[snapshot] = (indices, rows)
        register.append((snapshot, world, indices, rows))
        outcomes.append((rows, len(mine)))
        fresh += 1
    m = len(hashes_new)
    new_rows = np.arange(n0, n0 + m, dtype=np.int64)
    st = Staged(n0, pop.revision, outcomes, register, fresh, new_rows, link)
    if m:
        pop.reserve(n0 + m)  # grown by copying: what readers see is unchanged
        pop.x[new_rows] = np.concatenate(blocks)
        pop.hashes[new_rows] = np.array(hashes_new, dtype=np.uint64)
        if link:
            _link(pop, st)
    return st


def _new_vector(blocks: list[np.ndarray], j: int) -> np.ndarray:
    for b in blocks:
        if j < len(b):
            return b[j]
        j -= len(b)
    raise IndexError(j)


def _re_add_staged(pop: Population, snapshot: str, known: tuple[np.ndarray, np.ndarray], emb: np.ndarray,
                   indices: np.ndarray, blocks: list[np.ndarray], n0: int) -> np.ndarray:
    """The same snapshot twice in one batch: the same rows when its vectors are the same, else AlreadyExists."""
    old_idx, old_rows = known
    by_index = dict(zip(old_idx.tolist(), old_rows.tolist()))
    rows = np.array([by_index.get(int(i), -1) for i in indices], dtype=np.int64)
    same = len(by_index) == len(indices) and (rows >= 0).all() and all(
        np.array_equal(pop.x[r] if r < n0 else _new_vector(blocks, r - n0), e) for r, e in zip(rows.tolist(), emb))
    if not same:
        raise AlreadyExists(f"snapshot {snapshot} came twice in one batch with different {pop.kind} vectors: a "
                            "snapshot id names one immutable state", snapshot=snapshot)
    return rows


def _embed(pop: Population, batch: list[Item]) -> list[np.ndarray | Exception]:
    """Each item's embedded vectors or the error refusing it. Items of two vectors or more go through one
    projection together (one GEMM, where a BLAS gives each row the bits it gives it alone); a single vector, whose
    product takes another path, is embedded alone, as it is on its own."""
    field = f"{pop.kind}s"
    out: list[np.ndarray | Exception | None] = [
        (item[0].error or item[0].x) if isinstance(item[0], Embedded) else None for item in batch]
    together = [i for i, item in enumerate(batch) if _rows(item[0]) >= 2]
    if len(together) > 1:
        parts = [np.asarray(batch[i][0]) for i in together]
        if len({(p.dtype, p.shape[1:]) for p in parts}) == 1:
            try:
                emb = pop.embedder.embed(np.concatenate(parts), field=field)
            except Exception:  # one of them is refused: found below, one by one
                emb = None
            if emb is not None:
                cuts = np.cumsum([len(p) for p in parts])[:-1]
                for i, e in zip(together, np.split(emb, cuts)):
                    out[i] = e
    for i, (vectors, *_) in enumerate(batch):
        if out[i] is None:
            try:
                out[i] = pop.embedder.embed(vectors, field=field)
            except Exception as exc:
                out[i] = exc
    return out  # type: ignore[return-value]


def _rows(vectors: object) -> int:
    shape = getattr(vectors, "shape", ())
    return int(shape[0]) if len(shape) >= 2 else 0


def _link(pop: Population, st: Staged) -> None:
    """The new rows' lists and the earlier rows' changed lists (or a whole new graph), into ``st``."""
    new, k = st.new_rows, pop.k
    old = pop.alive_rows()
    after = np.concatenate([old, new])
    k_eff = effective_k(k, len(after))
    if len(old) == 0 or len(new) >= len(old):  # bulk: cheaper to recompute every list
        index = VectorIndex(pop.dim, pop.config.index)
        index.build(pop.x[after], after, k)
        graph = Graph(k, len(pop.x))
        rows, dist, nbr = search_lists(pop.x, index, after, after, k, k_eff, bulk=True)
        graph.dist[rows], graph.nbr[rows] = dist, nbr
        st.index, st.graph = index, graph
        st.changed = old[(graph.nbr[old] != pop.graph.nbr[old]).any(axis=1)]
        return
    if pop.index.wants_rebuild(len(after)):  # flat -> IVF, or an IVF retrain: built beside the current one
        st.index = VectorIndex(pop.dim, pop.config.index)
        st.index.build(pop.x[after], after, k)
    rows, dist, nbr = search_lists(pop.x, st.index or pop.index, new, after, k, k_eff,
                                   within=None if st.index is not None else new)
    qi, targets = pop.ball_candidates(pop.x[new], pop.radius(), nearest=k)
    keep = targets < st.n0
    t_rows, t_dist, t_nbr = pop.graph.merged(pop.x, targets[keep], new[qi[keep]])
    st.lists = (np.concatenate([rows, t_rows]), np.concatenate([dist, t_dist]), np.concatenate([nbr, t_nbr]))
    st.changed = t_rows


def search_lists(x: np.ndarray, index: VectorIndex, rows: np.ndarray, alive: np.ndarray, k: int, k_eff: int, *,
                 bulk: bool = False, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, dist, nbr): the k-NN lists of ``rows`` among ``alive`` (the rows the lists may hold). ``index``
    holds ``alive``, or, with ``within``, all of ``alive`` but those rows, which are then searched exhaustively
    (a batch's new rows, not yet in the published index). Lists an IVF probe left short are searched
    exhaustively."""
    step = 16384 if bulk else 4096
    dist = np.full((len(rows), k), np.inf, dtype=np.float32)
    nbr = np.full((len(rows), k), -1, dtype=np.int64)
    for s in range(0, len(rows), step):
        part = rows[s : s + step]
        _, found = index.search(x[part], k + 1, bulk=bulk)
        if within is not None and len(within):
            _, pos = faiss.knn(x[part], x[within], min(k + 1, len(within)))
            found = np.hstack([found, np.where(pos >= 0, within[np.maximum(pos, 0)], -1)])
        dist[s : s + step], nbr[s : s + step] = lists_of(x, part, found, k)
    short = np.flatnonzero((nbr[:, :k_eff] < 0).any(axis=1)) if k_eff else np.zeros(0, np.int64)
    if len(short):  # IVF probed too few points for these: search them exhaustively
        _, pos = faiss.knn(x[rows[short]], x[alive], min(k + 1, len(alive)))
        dist[short], nbr[short] = lists_of(x, rows[short], np.where(pos >= 0, alive[np.maximum(pos, 0)], -1), k)
    return rows, dist, nbr


def preview(pop: Population, st: Staged) -> Population:
    """``pop`` as ``commit(pop, st)`` will leave it, for reads that must see it first (a calibration that is
    due): a shallow copy over a copy of the lists with the changes applied. The copy of the lists is what the
    commit swaps in, so it is made once."""
    shadow = copy.copy(pop)
    shadow.alive = pop.alive.copy()
    shadow.alive[st.new_rows] = True
    shadow.alive_changed()
    shadow.n_rows = st.n_after
    shadow.revision = pop.revision + st.fresh
    shadow.calibration, shadow.cache = None, {}
    if st.graph is None:
        g = Graph(pop.k)
        g.dist, g.nbr = pop.graph.dist.copy(), pop.graph.nbr.copy()
        if st.lists is not None:
            rows, dist, nbr = st.lists
            g.dist[rows], g.nbr[rows] = dist, nbr
        st.graph, st.lists = g, None
    shadow.graph = st.graph
    return shadow


def commit(pop: Population, st: Staged) -> None:
    """Publish ``st`` (run under the lock readers take; short: no search, no distance computed)."""
    if pop.n_rows != st.n0 or pop.revision != st.revision:
        raise RuntimeError("a staged add was committed onto a population that changed since it was staged")
    new = st.new_rows
    pop.alive[new] = True
    pop.n_rows = st.n_after
    pop.alive_changed()
    for r, h in zip(new.tolist(), pop.hashes[new].tolist()):
        pop.by_hash.setdefault(h, []).append(r)
    for snapshot, world, indices, rows in st.register:
        pop.registry.add(snapshot, world, indices, rows)
    if st.graph is not None:
        pop.graph = st.graph
    elif st.lists is not None:
        rows, dist, nbr = st.lists
        pop.graph.dist[rows], pop.graph.nbr[rows] = dist, nbr
    if st.index is not None:
        pop.index = st.index
    elif st.linked and len(new):
        pop.index.add(pop.x[new], new)
    pop.revision += st.fresh
    if st.calibration is not None:
        pop.calibration = st.calibration
