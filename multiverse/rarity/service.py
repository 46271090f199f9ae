"""The rarity service: one engine per latent space, fed by the store's saves, persisted in the blob store.

The App subscribes it to the metadata's commit event (``meta.commits``): each newly committed snapshot (a save, or a
crossed world's first snapshot) is queued and, right after the commit, embedded, scored and added by one
worker thread, in commit order. ``wait_scored(snapshot_id)`` blocks until a snapshot is in the index;
``pending`` counts what is queued. ``watch`` streams newly scored vectors at or above a tier. Reads are in
``answers.py``.

Start and stop take seconds, whatever the backlog. ``open`` loads each space's saved engine (every score it had)
and queues to the worker, in commit order, what metadata holds beyond it (saves after the last flush, e.g.
before a crash); it replays nothing itself. An engine that is missing, damaged or built under another
configuration is rebuilt by the worker from metadata and blobs, while reads answer from what is there (the saved
engine under its old configuration, or an empty one), then saved and pointed at. ``close`` lets the worker
finish the snapshot in hand, abandons the rest of the queue (metadata still holds it: the next start queues it
again) and saves what was scored.

A stored snapshot that cannot be scored (its state does not read, say) is recorded as unscorable in its space's
engine (``RarityEngine.unscorable``, saved with it, so it is not tried again at every start), logged once, listed
by ``describe()``, and ``wait_scored`` raises for it; the rest goes on. A failure that may pass (the blob store
is down) is not recorded: the snapshot is tried again at the next start.

Persistence: ``flush`` saves every changed engine to the blob store and points the metadata at each manifest
(``Metadata.point_rarity_index``; before migration 0003 the pointers lived in ``<state_dir>/pointers.json``,
which ``open`` still reads for a space the metadata has no pointer for). It runs on ``close``, once the backlog
that ``open`` queued is done, and once at least ``persist_every`` snapshots *and* at least ``persist_fraction``
of the changed engines' vectors were added since the last flush. A flush writes whole engines, so the second
condition bounds the bytes written per vector added (about 1 / persist_fraction times the new data, 20x by
default) however small the snapshots are, where a count of snapshots alone would rewrite a 1M-vector index
(~0.5 GB) for every 64 saves of a few vectors each.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from multiverse.errors import MultiverseError, Unavailable
from multiverse.rarity.answers import Answers
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.persist import blobs_of
from multiverse.rarity.sync import LegacyPointers, space_snapshots
from multiverse.rarity.types import RarityConfig, RarityScore
from multiverse.rarity.worker import CHECKPOINT, STOP, Rebuild, Worker
from multiverse.records import SnapshotRecord, SpaceRecord

log = logging.getLogger("multiverse.rarity")


class RarityService(Worker, Answers):
    def __init__(self, meta: Any, blobs: Any, state_dir: Path, config: RarityConfig | None = None, *,
                 persist_every: int = 64, persist_fraction: float = 0.05) -> None:
        self.meta, self.blobs, self.config = meta, blobs, config or RarityConfig()
        self._legacy = LegacyPointers(Path(state_dir) / "pointers.json")
        self.persist_every, self.persist_fraction = persist_every, persist_fraction
        self._engines: dict[str, RarityEngine] = {}
        self._digests: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._rebuilding: set[str] = set()
        self._lock = threading.RLock()
        self._done = threading.Condition(self._lock)
        self._scored: set[str] = set()
        self._failed: dict[str, str] = {}
        self._queued = 0
        self._since_flush = 0  # snapshots added since the last flush
        self._rows_since_flush = 0  # vectors added since the last flush
        self._watchers: list[tuple[queue.Queue, Callable[[str, RarityScore], bool]]] = []
        self._queue: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._run, name="rarity-worker", daemon=True)
        self._worker.start()

    # -- start and stop --------------------------------------------------------------------------------
    @classmethod
    def open(cls, meta: Any, blobs: Any, state_dir: Path, config: RarityConfig | None = None,
             **kwargs: Any) -> RarityService:
        """The service serving every space's saved engine, with what they lack queued to the worker and the
        engines that could not be loaded queued for a rebuild (see the module docstring)."""
        service = cls(meta, blobs, state_dir, config, **kwargs)
        try:
            service._start()
        except BaseException:
            service._stop_worker()
            raise
        return service

    def _start(self) -> None:
        pointed = self.meta.rarity_manifests()
        digests = self._legacy.read() | pointed  # the file: where releases before migration 0003 kept them
        backlog: list[SnapshotRecord] = []
        rebuilds: list[Rebuild] = []
        for space in self.meta.list_spaces():
            name, digest = space.name, digests.get(space.name)
            engine, current = self._load(space, digest)
            with self._lock:
                self._engines[name] = engine
                if digest:
                    self._digests[name] = digest
                if not current:
                    self._rebuilding.add(name)
            if not current:
                rebuilds.append(Rebuild(space))
                continue
            stored = space_snapshots(self.meta, name)
            missing = [r for r in stored if not engine.has_snapshot(r.id) and r.id not in engine.unscorable]
            lacking = {r.id for r in missing}
            with self._lock:
                self._scored.update(r.id for r in stored if r.id not in lacking and r.id not in engine.unscorable)
                self._failed.update(engine.unscorable)
                if pointed.get(name) != digest:
                    self._dirty.add(name)  # a pointer file's engine: saved and pointed at by the checkpoint
            backlog += missing
            if engine.unscorable:
                log.warning("rarity: %d stored snapshots of %s are recorded as unscorable and skipped "
                            "(RarityService.describe() lists them)", len(engine.unscorable), name)
            log.info("rarity: %s serves its saved index (%d vectors); %d later snapshots queued for scoring",
                     name, engine.rows(), len(missing))
        for item in [*sorted(backlog, key=lambda r: (r.created_at, r.id)), *rebuilds, CHECKPOINT]:
            self._enqueue(item)

    def _load(self, space: SpaceRecord, digest: str | None) -> tuple[RarityEngine, bool]:
        """(the engine to serve ``space`` from now, whether it is current); a stale one is rebuilt meanwhile."""
        if not digest:
            return RarityEngine.for_space(space, self.config), False
        try:
            engine = RarityEngine.load(self.blobs, digest, threads=self.config.threads,
                                       device=self.config.index.device)
        except Unavailable:
            raise  # the blob store is down: nothing could be saved either; start-up says so
        except Exception as exc:  # missing, damaged, another format: nothing stored may keep the service down
            log.warning("rarity: the saved index of %s (%s) does not load (%s); rebuilding it in the background",
                        space.name, digest[:12], exc)
            return RarityEngine.for_space(space, self.config), False
        if engine.config != replace(self.config, threads=engine.config.threads):
            log.warning("rarity: the saved index of %s was built under another configuration; it serves until "
                        "its rebuild under this one is done", space.name)
            return engine, False
        engine.loaded_from = digest
        return engine, True

    def close(self) -> None:
        """Stop within seconds: finish the snapshot in hand, abandon the rest of the queue (metadata still holds
        it, so the next start queues it again), save what was scored."""
        self._stop_worker()
        self.flush()

    def _stop_worker(self) -> None:
        self._stopping.set()
        self._queue.put(STOP)
        self._worker.join()

    # -- the store's listener --------------------------------------------------------------------------
    def snapshot_saved(self, record: SnapshotRecord) -> None:
        """Queue a newly committed snapshot for scoring (subscribed to the metadata's ``commits`` event)."""
        if not self._stopping.is_set():  # stopping: the next start finds it in metadata
            self._enqueue(record)

    def _enqueue(self, item: object) -> None:
        with self._lock:
            self._queued += 1
        self._queue.put(item)

    @property
    def pending(self) -> int:
        """Snapshots committed but not scored yet (a rebuild and the start-up checkpoint count one each)."""
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

    # -- persistence -----------------------------------------------------------------------------------
    def _save_quietly(self, due: bool) -> None:
        """Flush when ``due``; a failure (the blob store is down, say) is logged and retried at the next flush."""
        if not due or self._stopping.is_set():  # stopping: close flushes
            return
        try:
            self.flush()
        except Exception:
            log.exception("rarity: saving the index failed; it stays in memory and is saved at the next flush")

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

    def describe(self) -> dict[str, Any]:
        """What the service holds: spaces, what is queued, each space's saved manifest, the spaces being rebuilt,
        the index version and N each kind answers from, and the snapshots recorded as unscorable (with why)."""
        with self._lock:
            engines, out = dict(self._engines), {
                "spaces": sorted(self._engines), "pending": self._queued, "digests": dict(self._digests),
                "rebuilding": sorted(self._rebuilding)}
        out["serving"] = {name: engine.versions() for name, engine in sorted(engines.items())}
        out["unscorable"] = {name: dict(engine.unscorable) for name, engine in sorted(engines.items())
                             if engine.unscorable}
        return out
