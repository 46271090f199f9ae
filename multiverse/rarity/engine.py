"""The rarity engine of one latent space: the service layer's single entry point.

It holds one population per kind ("frame": flattened frame latents; "player": implicit player vectors), takes
plain numpy arrays and string/tuple ids, and answers with frozen records (``records.py``).

Reads never wait for scoring. Writes are serialised by a writer lock; an add works out everything it changes
(embedding, searches, new lists, and a calibration that falls due) beside the published state, holding only the
writer lock (``stage.py``), then publishes it under the read lock in a short commit (no search, no distance).
Reads take the read lock, so they see the index version before a batch or after it, never half of one, and say
which (``RarityScore.index_version``); a read waits at most for a commit, not for a scoring.

    engine = RarityEngine.for_space(space_record)
    result = engine.add("frame", frames, snapshot=snap_id, world="overworld-1")   # (T, *frame_shape)
    engine.rarity_of(VectorId(snap_id, "frame", 3))
    page, cursor = engine.top_rare("frame", tier="legendary", world="overworld-1", limit=50)
    digest = engine.save(blobs)            # keep the digest (e.g. in metadata) ...
    engine = RarityEngine.open(blobs, digest, space=space_record, source=replay)   # ... to reload on start
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import replace

import faiss
import numpy as np

from multiverse.errors import Corrupt, InvalidArgument, NotFound
from multiverse.rarity import reads
from multiverse.rarity import stage as stage_mod
from multiverse.rarity.calibrate import Calibration
from multiverse.rarity.embed import make_embedder
from multiverse.rarity.population import Population
from multiverse.rarity.types import KINDS, AddResult, KindStats, Neighbor, RarityConfig, RarityScore, VectorId
from multiverse.records import SpaceRecord

# One batch of a replay: (kind, vectors, snapshot, world, indices or None)
Batch = tuple[str, np.ndarray, str, str, "np.ndarray | None"]


class RarityEngine:
    """Rarity of the frame latents and player vectors of one latent space (see the module docstring)."""

    def __init__(
        self,
        space: str,
        *,
        frame_dim: int,
        player_dim: int = 0,
        vocab_size: int = 0,
        config: RarityConfig | None = None,
    ) -> None:
        self.space = space
        self.config = config or RarityConfig()
        self.frame_dim, self.player_dim, self.vocab_size = frame_dim, player_dim, vocab_size
        if self.config.threads:
            faiss.omp_set_num_threads(self.config.threads)
        c = self.config
        self._pops = {"frame": Population("frame", make_embedder(frame_dim, max_dim=c.embed_dim, seed=c.embed_seed,
                                                                  vocab_size=vocab_size), c)}
        if player_dim:
            self._pops["player"] = Population("player", make_embedder(player_dim, max_dim=c.embed_dim,
                                                                      seed=c.embed_seed), c)
        self._lock = threading.RLock()  # reads and commits
        self._write = threading.RLock()  # writers, one at a time; held while staging, without ``_lock``
        self.loaded_from: str | None = None  # the manifest ``open`` loaded it from; None when built or rebuilt
        # {snapshot: why} for stored snapshots that cannot be scored (saved with the engine, so never retried)
        self.unscorable: dict[str, str] = {}

    @classmethod
    def for_space(cls, space: SpaceRecord, config: RarityConfig | None = None) -> RarityEngine:
        """The engine for a registered latent space (frames flattened; token ids sketched in a discrete space)."""
        return cls(
            space.name,
            frame_dim=math.prod(space.frame_shape),
            player_dim=space.player_dim,
            vocab_size=space.vocab_size if space.discrete else 0,
            config=config,
        )

    def population(self, kind: str) -> Population:
        if kind not in KINDS:
            raise InvalidArgument("kind", kind, f"use one of {', '.join(KINDS)}")
        pop = self._pops.get(kind)
        if pop is None:
            raise InvalidArgument("kind", kind, f"latent space {self.space} has no player vectors (player_dim=0)")
        return pop

    # -- writes ----------------------------------------------------------------------------------------
    def add(
        self, kind: str, vectors: np.ndarray, *, snapshot: str, world: str, indices: Iterable[int] | None = None
    ) -> AddResult:
        """Add one snapshot's vectors of ``kind`` ((n, values) or (n, *frame_shape)); ``indices`` name them
        within the snapshot (default 0..n-1). Returns the batch's scores and the earlier vectors re-scored.
        Adding the same snapshot again with the same vectors is a no-op that returns the same scores."""
        with self._write:
            pop = self.population(kind)
            idx = _indices(indices, len(vectors) if hasattr(vectors, "__len__") else 0)
            st = pop.stage([(vectors, _name("snapshot", snapshot), _name("world", world), idx)])
            if isinstance(st.outcomes[0], Exception):
                raise st.outcomes[0]
            self._publish(pop, st)
            rows, new_points = st.outcomes[0]
            if pop.deferred:
                return AddResult((), (), new_points, pop.index_version)
            scores = reads.member_scores(pop, rows, _keys(pop, snapshot, idx))  # off the read lock: only we write
            first = pop.registry.first_keys(pop.n_rows)[st.changed]
            rescored = tuple(reads._vid(pop, p) for p in first.tolist())
            return AddResult(tuple(scores), rescored, new_points, pop.index_version)

    def _publish(self, pop: Population, st) -> None:
        """Commit a staged add under the read lock, with the calibration it makes due fitted beforehand (on a
        preview of the population it leaves), so that no read after it has to fit one."""
        if st.linked and len(st.new_rows) and _calibration_due(pop, st.n_after - st.n0 + pop.n_alive):
            shadow = stage_mod.preview(pop, st)
            st.calibration = reads.calibrate(shadow)
        with self._lock:
            pop.commit(st)

    def add_snapshot(
        self, snapshot: str, world: str, *, frames: np.ndarray | None = None, players: np.ndarray | None = None
    ) -> dict[str, AddResult]:
        """Add a snapshot's frames (T, *frame_shape) and/or player vectors (P, player_dim)."""
        out = {}
        for kind, vectors in (("frame", frames), ("player", players)):
            if vectors is not None and len(vectors):
                out[kind] = self.add(kind, vectors, snapshot=snapshot, world=world)
        return out

    def mark_unscorable(self, snapshot: str, reason: str) -> None:
        """Record that ``snapshot`` cannot be scored (its state does not read, say), so that it is not tried
        again; ``reason`` is kept (cut to 500 characters) for reports."""
        with self._write, self._lock:
            self.unscorable[_name("snapshot", snapshot)] = reason[:500]

    def add_snapshots(
        self, items: list[tuple[str, str, np.ndarray | None, np.ndarray | None]]
    ) -> tuple[dict[str, dict[str, AddResult]], dict[str, Exception]]:
        """Add several snapshots at once, (snapshot, world, frames or None, player vectors or None) each, linking
        each kind's new points once (``Population.add_many``). Returns ({snapshot: {kind: its AddResult}}, whose
        ``rescored`` is left empty, and {snapshot: the error that refused it}). A snapshot refused for one kind
        is not offered to the next."""
        results: dict[str, dict[str, AddResult]] = {snap: {} for snap, *_ in items}
        failed: dict[str, Exception] = {}
        with self._write:
            for kind, at in (("frame", 2), ("player", 3)):
                pop = self._pops.get(kind)
                batch = [(item[at], _name("snapshot", item[0]), _name("world", item[1]), _indices(None, len(item[at])))
                         for item in items if pop is not None and item[0] not in failed
                         and item[at] is not None and len(item[at])]
                if not batch:
                    continue
                st = pop.stage(batch)
                self._publish(pop, st)
                done = []
                for (_, snap, _, idx), outcome in zip(batch, st.outcomes):
                    if isinstance(outcome, Exception):
                        failed[snap] = outcome
                    else:
                        done.append((snap, outcome[0], outcome[1], _keys(pop, snap, idx)))
                if not done:
                    continue
                # one scoring pass for the whole batch, off the read lock (only this writer changes the population)
                scores = reads.member_scores(pop, np.concatenate([d[1] for d in done]),
                                             np.concatenate([d[3] for d in done]))
                at_ = 0
                for snap, rows, n_new, _ in done:
                    results[snap][kind] = AddResult(tuple(scores[at_ : at_ + len(rows)]), (), n_new, pop.index_version)
                    at_ += len(rows)
        return {snap: r for snap, r in results.items() if snap not in failed}, failed

    def remove_snapshot(self, snapshot: str) -> int:
        """Forget a snapshot's vectors (garbage collection); returns how many ids were removed."""
        with self._write, self._lock:
            return sum(pop.remove_snapshot(snapshot)[0] for pop in self._pops.values())

    def rebuild(self, kind: str | None = None) -> None:
        """Compact, retrain the index and recompute every k-NN list and the calibration (a new build)."""
        with self._write, self._lock:
            for pop in self._selected(kind):
                pop.rebuild()
                reads.calibrate(pop)

    def calibrate(self, kind: str | None = None) -> dict[str, Calibration]:
        """Refit the calibration now (it is refitted automatically as the population grows)."""
        with self._write, self._lock:
            return {pop.kind: reads.calibrate(pop) for pop in self._selected(kind)}

    def calibration(self, kind: str) -> Calibration | None:
        """The calibration ``kind``'s scores are placed by now (fitted first if due); None before the space holds
        any vector of that kind."""
        with self._lock:
            pop = self.population(kind)
            return reads.ensure_calibrated(pop) if pop.n_alive else None

    @contextlib.contextmanager
    def bulk(self) -> Iterator[RarityEngine]:
        """Add many snapshots and link them once at the end (for rebuilding from the store):
        ``with engine.bulk(): engine.add(...)``. Scores returned inside the block are placeholders. When the
        block raises, nothing is linked (that could take minutes on a large population): discard the engine."""
        with self._write, self._lock:
            for pop in self._pops.values():
                pop.deferred = True
            try:
                yield self
            except BaseException:
                for pop in self._pops.values():
                    pop.deferred = False
                raise
            for pop in self._pops.values():
                pop.deferred = False
                pop.relink()
                pop.revision += 1
                reads.calibrate(pop)

    # -- reads -----------------------------------------------------------------------------------------
    def score(self, kind: str, vectors: np.ndarray) -> list[RarityScore]:
        """Scores of vectors that are not added (a candidate state, a crossed world's frames): the index is
        unchanged. ``uncharted`` marks vectors outside every reference ball (off the seen manifold)."""
        with self._lock:
            return reads.vector_scores(self.population(kind), vectors)

    def rarity_of(self, vid: VectorId | tuple[str, str, int]) -> RarityScore:
        """The current score of an added vector."""
        with self._lock:
            vid = VectorId(*vid)
            pop = self.population(vid.kind)
            row, key = pop.registry.row_of(vid.snapshot, vid.index, vid.kind)
            return reads.member_scores(pop, np.array([row]), np.array([key]))[0]

    def snapshot_scores(self, snapshot: str) -> list[RarityScore]:
        """The current scores of every vector of an added snapshot, frames first (none when it is not added)."""
        with self._lock:
            out: list[RarityScore] = []
            for pop in self._pops.values():
                keys = pop.registry.snapshot_keys(snapshot)
                out += reads.member_scores(pop, pop.registry.key_row[keys], keys) if len(keys) else []
            return out

    def neighbors(
        self,
        query: VectorId | tuple[str, str, int] | np.ndarray,
        k: int | None = None,
        *,
        kind: str | None = None,
        world: str | Collection[str] | None = None,
    ) -> list[Neighbor]:
        """The ``k`` (default: the engine's k) nearest other points to an added vector's id, or to a vector
        (then ``kind`` is required), nearest first; ``world`` keeps only points with an id in that world (or in
        any of a collection of worlds: those a caller may read), each named by its first id there."""
        k = self.config.k if k is None else k
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise InvalidArgument("k", k, "ask for 1 to 1000 neighbours")
        with self._lock:
            if isinstance(query, np.ndarray):
                if kind is None:
                    raise InvalidArgument("kind", None, "say which kind of vector this is: frame or player")
                pop, own = self.population(kind), None
                q = pop.embedder.embed(query[None] if query.ndim == 1 else query, field="query")
                if len(q) != 1:
                    raise InvalidArgument("query", f"{len(q)} vectors", "pass one vector")
                q = q[0]
            else:
                vid = VectorId(*query)
                pop = self.population(vid.kind)
                own, _ = pop.registry.row_of(vid.snapshot, vid.index, vid.kind)
                q = pop.x[own]
            return reads.neighbors(pop, q, k, own=own, world=pop.registry.world_filter(world))

    def top_rare(
        self, kind: str, *, tier: str | None = None, world: str | Collection[str] | None = None, limit: int = 50,
        cursor: str = ""
    ) -> tuple[list[RarityScore], str]:
        """Distinct vectors rarest first, optionally of one tier and one world (or any of a collection of worlds);
        returns (page, next_cursor), next_cursor "" on the last page. Each item is named by its first id (its
        discoverer) among those worlds."""
        with self._lock:
            pop = self.population(kind)
            try:
                wid = pop.registry.world_filter(world)
            except NotFound:
                return [], ""
            return reads.top_rare(pop, tier=tier, world=wid, limit=limit, cursor=cursor)

    def stats(self) -> dict[str, KindStats]:
        with self._lock:
            out = {}
            for kind, pop in self._pops.items():
                c = reads.ensure_calibrated(pop) if pop.n_alive else None
                reg, ix = pop.registry, pop.index
                out[kind] = KindStats(
                    kind, pop.n_alive, int(reg.key_alive[: reg.n_keys].sum()), len(reg.snapshots), len(reg.worlds),
                    pop.dim, pop.embedder.version, ix.kind, ix.nlist, ix.nprobe, ix.measured_recall,
                    pop.index_version, c.version if c else "", c.n if c else 0, ix.backend,
                )
            return out

    def versions(self) -> dict[str, dict]:
        """{kind: {"index_version", "n"}}: what this engine's scores are computed against now."""
        with self._lock:
            return {kind: {"index_version": pop.index_version, "n": pop.n_alive} for kind, pop in self._pops.items()}

    def rows(self) -> int:
        """Vectors held, over every kind (what a save writes)."""
        with self._lock:
            return sum(pop.n_rows for pop in self._pops.values())

    def has_snapshot(self, snapshot: str) -> bool:
        """Whether any vector of ``snapshot`` is in the index."""
        with self._lock:
            return any(pop.registry.has_snapshot(snapshot) for pop in self._pops.values())

    def _selected(self, kind: str | None) -> list[Population]:
        return list(self._pops.values()) if kind is None else [self.population(kind)]

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, blobs) -> str:
        """Write index, lists, ids and calibration to ``blobs``; returns the manifest's digest (keep it)."""
        from multiverse.rarity.persist import save

        with self._write:  # no writer meanwhile; reads go on (a save of a large index takes seconds)
            return save(self, blobs)

    @classmethod
    def load(cls, blobs, digest: str, *, threads: int = 0, device: str = "auto") -> RarityEngine:
        """The engine saved under ``digest``, searching on ``device`` (IndexSettings.device). NotFound/Corrupt
        when blobs are missing or damaged."""
        from multiverse.rarity.persist import load

        return load(cls, blobs, digest, threads=threads, device=device)

    @classmethod
    def open(
        cls,
        blobs,
        digest: str | None,
        *,
        space: SpaceRecord,
        config: RarityConfig | None = None,
        source: Callable[[], Iterable[Batch]],
    ) -> RarityEngine:
        """Reload the engine saved under ``digest``; when there is none, it is missing or damaged, or it was
        built with another config, rebuild it from ``source()`` (every stored snapshot's vectors)."""
        from multiverse.rarity.persist import StaleIndex

        config = config or RarityConfig()
        if digest:
            try:
                engine = cls.load(blobs, digest, threads=config.threads, device=config.index.device)
                if engine.config == replace(config, threads=engine.config.threads):
                    engine.loaded_from = digest
                    return engine
            except (StaleIndex, NotFound, Corrupt):
                pass  # rebuild below
        engine = cls.for_space(space, config)
        with engine.bulk():
            for kind, vectors, snapshot, world, indices in source():
                engine.add(kind, vectors, snapshot=snapshot, world=world, indices=indices)
        return engine


def _keys(pop: Population, snapshot: str, idx: np.ndarray) -> np.ndarray:
    """The key positions of ids (snapshot, idx[i]) in ``pop``'s registry."""
    pos = pop.registry.snapshot_keys(snapshot)
    key_of = dict(zip(pop.registry.key_index[pos].tolist(), pos.tolist()))
    return np.array([key_of[int(i)] for i in idx], dtype=np.int64)


def _calibration_due(pop: Population, n_after: int) -> bool:
    """Whether the first read after a commit leaving ``n_after`` points would refit the calibration
    (``reads.ensure_calibrated``'s rule)."""
    c = pop.calibration
    return c is None or abs(n_after - c.n) > pop.config.recalibrate_growth * max(c.n, 1)


def _name(field: str, value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidArgument(field, value, f"pass the {field} name or id as a non-empty string")
    return value


def _indices(indices: Iterable[int] | None, n: int) -> np.ndarray:
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise InvalidArgument("indices", f"array of shape {idx.shape}", "pass one integer index per vector")
    if idx.size and (idx.min() < 0 or idx.max() >= 2**31):
        raise InvalidArgument("indices", f"[{idx.min()}, {idx.max()}]", "use indices in [0, 2^31)")
    if len(np.unique(idx)) != len(idx):
        raise InvalidArgument("indices", "repeated indices", "give each vector of the snapshot its own index")
    return idx.astype(np.int64)
