"""The rarity service: one engine per latent space, fed by the store's saves, persisted in the blob store.

The App wires it as the store's listener (``sync.Observed``): each newly committed snapshot (a save, or a
crossed world's first snapshot) is queued and, right after the commit, embedded, scored and added by one
worker thread, in commit order. ``wait_scored(snapshot_id)`` blocks until a snapshot is in the index;
``pending`` counts what is queued. ``watch`` streams newly scored vectors at or above a tier.

Persistence: ``flush`` saves every changed engine to the blob store and points the metadata at each manifest
(``Metadata.point_rarity_index``; before migration 0003 the pointers lived in ``<state_dir>/pointers.json``,
which ``open`` still reads for a space the metadata has no pointer for). It runs on ``close``, and once at least
``persist_every`` snapshots *and* at least ``persist_fraction`` of the changed engines' vectors were added since
the last flush. A flush writes whole engines, so the second condition bounds the bytes written per vector added
(about 1 / persist_fraction times the new data, 20x by default) however small the snapshots are, where a count
of snapshots alone would rewrite a 1M-vector index (~0.5 GB) for every 64 saves of a few vectors each.
``open`` loads the saved engines and then adds whatever metadata holds that they lack (saves after the last
flush, e.g. before a crash); an engine that is missing, damaged or built under another configuration is rebuilt
from metadata and blobs, then saved and pointed at.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from multiverse.errors import InvalidArgument, MultiverseError
from multiverse.rarity.calibrate import TIER_NAMES, check_tier
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.index import uses_gpu
from multiverse.rarity.persist import blobs_of
from multiverse.rarity.records import KINDS, KindStats, Neighbor, RarityConfig, RarityScore, VectorId
from multiverse.rarity.sync import LegacyPointers, iter_batches, snapshot_vectors, space_snapshots
from multiverse.records import SnapshotRecord

log = logging.getLogger("multiverse.rarity")
_STOP = object()


class RarityService:
    def __init__(self, meta: Any, blobs: Any, state_dir: Path, config: RarityConfig | None = None, *,
                 persist_every: int = 64, persist_fraction: float = 0.05) -> None:
        self.meta, self.blobs, self.config = meta, blobs, config or RarityConfig()
        self._legacy = LegacyPointers(Path(state_dir) / "pointers.json")
        self.persist_every, self.persist_fraction = persist_every, persist_fraction
        self._engines: dict[str, RarityEngine] = {}
        self._digests: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._lock = threading.RLock()
        self._done = threading.Condition(self._lock)
        self._scored: set[str] = set()
        self._failed: dict[str, str] = {}
        self._queued = 0
        self._since_flush = 0  # snapshots added since the last flush
        self._rows_since_flush = 0  # vectors added since the last flush
        self._watchers: list[tuple[queue.Queue, Callable[[str, RarityScore], bool]]] = []
        self._queue: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="rarity-worker", daemon=True)
        self._worker.start()

    # -- start and stop --------------------------------------------------------------------------------
    @classmethod
    def open(cls, meta: Any, blobs: Any, state_dir: Path, config: RarityConfig | None = None,
             **kwargs: Any) -> RarityService:
        """The service with every space's engine loaded (or rebuilt) and caught up with metadata."""
        service = cls(meta, blobs, state_dir, config, **kwargs)
        pointed = meta.rarity_manifests()
        digests = service._legacy.read() | pointed  # the file: where releases before migration 0003 kept them
        for space in meta.list_spaces():
            engine = RarityEngine.open(blobs, digests.get(space.name), space=space, config=service.config,
                                       source=lambda s=space: iter_batches(meta, blobs, s))
            loaded = space.name in digests and engine.loaded_from == digests[space.name]  # not rebuilt
            with service._lock:
                service._engines[space.name] = engine
                if digests.get(space.name):
                    service._digests[space.name] = digests[space.name]
            stored = space_snapshots(meta, space.name)
            missing = [r for r in stored if not engine.has_snapshot(r.id)]
            for record in missing:  # committed after the last flush (a crash): add them as the worker would
                service._add(record)
            with service._lock:
                service._scored.update(r.id for r in stored)
                if missing or not loaded or pointed.get(space.name) != digests.get(space.name):
                    service._dirty.add(space.name)  # saved and pointed at by the flush below
        service.flush()
        return service

    def close(self) -> None:
        """Score what is queued, persist, stop the worker."""
        self._queue.put(_STOP)
        self._worker.join()
        self.flush()

    # -- the store's listener --------------------------------------------------------------------------
    def snapshot_saved(self, record: SnapshotRecord) -> None:
        """Queue a newly committed snapshot for scoring (called by ``sync.Observed`` after the commit)."""
        with self._lock:
            self._queued += 1
        self._queue.put(record)

    @property
    def pending(self) -> int:
        """Snapshots committed but not scored yet."""
        with self._lock:
            return self._queued

    def wait_scored(self, snapshot: str, timeout: float = 30.0) -> bool:
        """Block until ``snapshot`` is in the index (True) or ``timeout`` passes (False). A snapshot whose
        scoring failed raises the error it failed with."""
        deadline = time.monotonic() + timeout
        with self._done:
            while snapshot not in self._scored:
                if snapshot in self._failed:
                    raise MultiverseError(f"snapshot {snapshot} could not be scored: {self._failed[snapshot]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
            return True

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is queued."""
        deadline = time.monotonic() + timeout
        with self._done:
            while self._queued:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
            return True

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is _STOP:
                return
            try:
                self._add(record)
            except Exception as exc:
                log.exception("rarity: scoring snapshot %s failed", record.id)
                with self._done:
                    self._failed[record.id] = str(exc)
            try:
                if self._flush_due():
                    self.flush()
            except Exception:  # the blob store is down, say: keep scoring; the next due flush tries again
                log.exception("rarity: saving the index failed; it stays in memory and is saved at the next flush")
            finally:  # idle means scored and, when one was due, flushed
                with self._done:
                    self._queued -= 1
                    self._done.notify_all()

    def _add(self, record: SnapshotRecord) -> None:
        space = self.meta.get_space(self.meta.get_world(record.world).space)
        engine = self.engine(space.name)
        frames, players = snapshot_vectors(self.blobs, record, space)
        results = engine.add_snapshot(record.id, record.world, frames=frames,
                                      players=players if engine.player_dim else None)
        with self._done:
            self._scored.add(record.id)
            self._dirty.add(space.name)
            self._since_flush += 1
            self._rows_since_flush += len(frames) + (len(players) if players is not None and engine.player_dim
                                                     else 0)
            watchers = list(self._watchers)
            self._done.notify_all()
        for result in results.values():
            for score in result.scores:
                for q, wanted in watchers:
                    if wanted(space.name, score):
                        q.put((space.name, score))

    # -- persistence -----------------------------------------------------------------------------------
    def _flush_due(self) -> bool:
        """Enough snapshots and enough new vectors since the last flush (see the module docstring)."""
        with self._lock:
            if not self.persist_every or self._since_flush < self.persist_every:
                return False
            engines = [self._engines[name] for name in self._dirty]
            added = self._rows_since_flush
        return added >= self.persist_fraction * sum(engine.rows() for engine in engines)

    def flush(self) -> dict[str, str]:
        """Save every changed engine to the blob store and point the metadata at it; returns {space: manifest
        digest}. A space's superseded save is deleted once the pointer has moved off it, unless another process
        moved the pointer meanwhile (then nothing of either is deleted)."""
        with self._lock:
            dirty, counts = sorted(self._dirty), (self._since_flush, self._rows_since_flush)
            self._dirty, self._since_flush, self._rows_since_flush = set(), 0, 0
            engines = {name: self._engines[name] for name in dirty}
        saved: list[str] = []
        try:
            for name, engine in engines.items():
                digest = engine.save(self.blobs)
                before = self.meta.point_rarity_index(name, digest, time.time())
                with self._lock:
                    known, self._digests[name] = self._digests.get(name), digest
                saved.append(name)
                if before not in (None, known, digest):
                    log.warning("rarity: another process had moved the index of %s to %s; deleting nothing",
                                name, before[:12])
                elif known and known != digest:
                    self._drop(known)
        except BaseException:
            with self._lock:  # what was not saved yet is saved by the next flush
                self._dirty.update(set(dirty) - set(saved))
                self._since_flush += counts[0]
                self._rows_since_flush += counts[1]
            raise
        with self._lock:
            return dict(self._digests)

    def _drop(self, superseded: str) -> None:
        """Delete a superseded save's blobs, except any that a current save shares (equal bytes)."""
        with self._lock:
            current = list(self._digests.values())
        keep = set().union(*(blobs_of(self.blobs, d) for d in current))
        for digest in blobs_of(self.blobs, superseded) - keep:
            self.blobs.delete(digest)

    # -- reads -----------------------------------------------------------------------------------------
    def engine(self, space: str) -> RarityEngine:
        """The engine of ``space`` ("" when exactly one space is registered)."""
        name = self._space_name(space)
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = RarityEngine.for_space(self.meta.get_space(name), self.config)
                self._engines[name] = engine
            return engine

    def _space_name(self, space: str) -> str:
        if space:
            return space
        names = sorted(s.name for s in self.meta.list_spaces())
        if len(names) != 1:
            raise InvalidArgument("space", "", f"name a latent space: one of {', '.join(names) or '(none registered)'}")
        return names[0]

    def space_of(self, snapshot: str) -> str:
        return self.meta.get_world(self.meta.get_snapshot(snapshot).world).space

    def score(self, space: str, kind: str, vectors: np.ndarray) -> list[RarityScore]:
        return self.engine(space).score(kind or "frame", vectors)

    def top_rare(self, space: str, kind: str = "", *, tier: str = "", world: str = "", limit: int = 50,
                 cursor: str = "") -> tuple[list[RarityScore], str]:
        return self.engine(space).top_rare(kind or "frame", tier=tier or None, world=world or None, limit=limit,
                                           cursor=cursor)

    def rarity_of(self, vid: VectorId) -> RarityScore:
        return self.engine(self.space_of(vid.snapshot)).rarity_of(vid)

    def neighbors(self, query: VectorId | np.ndarray, *, space: str = "", kind: str = "", k: int = 0,
                  world: str = "") -> list[Neighbor]:
        if isinstance(query, np.ndarray):
            engine = self.engine(space)
            return engine.neighbors(query, k or None, kind=kind or "frame", world=world or None)
        return self.engine(self.space_of(query.snapshot)).neighbors(query, k or None, world=world or None)

    def stats(self, space: str) -> dict[str, KindStats]:
        return self.engine(space).stats()

    @property
    def gpu(self) -> bool:
        """Whether the indexes search on a GPU (faiss-gpu for IVF or torch CUDA for the exact index)."""
        return uses_gpu(self.config.index)

    def watch(self, space: str = "", kind: str = "", tier: str = "", *,
              stop: Callable[[], bool] = lambda: False, poll: float = 0.25) -> Iterator[tuple[str, RarityScore]]:
        """(space, score) of each newly scored vector of ``space`` (any when ""), ``kind`` (any when "") at or
        above ``tier`` (default "rare"), until ``stop()`` is true or the consumer closes the generator."""
        if space:
            self.meta.get_space(space)
        if kind and kind not in KINDS:
            raise InvalidArgument("kind", kind, f"use one of {', '.join(KINDS)}, or leave it empty for both")
        floor = TIER_NAMES.index(check_tier(tier or "rare"))

        def wanted(name: str, s: RarityScore) -> bool:
            return ((not space or name == space) and (not kind or s.id is None or s.id.kind == kind)
                    and TIER_NAMES.index(s.tier) >= floor)

        q: queue.Queue = queue.Queue()
        with self._lock:
            self._watchers.append((q, wanted))
        try:
            while not stop():
                try:
                    yield q.get(timeout=poll)
                except queue.Empty:
                    continue
        finally:
            with self._lock:
                self._watchers.remove((q, wanted))

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"spaces": sorted(self._engines), "pending": self._queued, "digests": dict(self._digests)}

