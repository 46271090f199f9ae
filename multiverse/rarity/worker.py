"""The rarity service's worker: one thread that scores what is queued, in commit order, and rebuilds engines.

Items on the queue: a ``SnapshotRecord`` (score it), a ``Rebuild`` (rebuild a space's engine from every stored
snapshot, then serve it), ``CHECKPOINT`` (save what the start-up backlog changed) and ``STOP``. Snapshots queued
together are scored together (``RarityEngine.add_snapshots``: one search per kind for the batch), so a backlog
of small saves costs a few batches rather than one search each. Once the service is stopping, the worker
finishes the item in hand (a rebuild stops between snapshots) and drops the rest: metadata still holds it, and
the next start queues it again.

A snapshot that cannot be scored is recorded in its engine as unscorable (``RarityEngine.mark_unscorable``, saved
with the engine) and reported; a failure that may pass (``passing``: the blob store is down, say) is only
reported, and the snapshot is tried again at the next start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.sync import snapshot_vectors, space_snapshots
from multiverse.rarity.types import RarityScore
from multiverse.records import SnapshotRecord, SpaceRecord

log = logging.getLogger("multiverse.rarity")

STOP = object()
CHECKPOINT = object()  # queued after the start-up backlog: save what it changed
RETRY_S = 5.0  # a rebuild that failed on a passing fault (the blob store is down) is tried again after this
BATCH_COUNT, BATCH_BYTES = 256, 64 << 20  # snapshots queued together are scored together, up to these


@dataclass(frozen=True)
class Rebuild:
    space: SpaceRecord


class Abandoned(Exception):
    """The service is stopping: the work in hand is dropped (metadata still holds what it was for)."""


def passing(exc: BaseException) -> bool:
    """Whether a failure may pass by itself (retried later), rather than being the snapshot's own."""
    return isinstance(exc, (OSError, MemoryError)) or getattr(exc, "retriable", False)


class Worker:
    """The worker's part of ``RarityService`` (which owns the state named below and starts ``_run``)."""

    meta: Any
    blobs: Any
    config: Any
    _lock: threading.RLock
    _done: threading.Condition
    _queue: queue.Queue
    _stopping: threading.Event
    _engines: dict[str, RarityEngine]
    _rebuilding: set[str]
    _dirty: set[str]
    _scored: set[str]
    _failed: dict[str, str]
    _queued: int
    _since_flush: int
    _rows_since_flush: int
    _watchers: list[tuple[queue.Queue, Callable[[str, RarityScore], bool]]]

    # and calls its engine(), _enqueue(), _flush_due() and _save_quietly()

    def _run(self) -> None:
        held: list[object] = []  # taken from the queue while gathering a batch, to be done next
        while True:
            item = held.pop(0) if held else self._queue.get()
            if item is STOP or self._stopping.is_set():
                self._abandon([item, *held])
                return
            items = [item]
            try:
                if isinstance(item, Rebuild):
                    self._rebuild(item.space)
                elif item is CHECKPOINT:
                    self._save_quietly(bool(self._dirty))
                else:
                    items = self._gather(item, held)
                    self._score(items)
                    self._save_quietly(self._flush_due())
            except Abandoned:
                pass
            except Exception as exc:  # a fault of ours: reported; what it left unscored is tried at the next start
                log.exception("rarity: the worker failed on %s", getattr(item, "id", type(item).__name__))
                with self._done:
                    self._failed.update((r.id, str(exc)) for r in items
                                        if isinstance(r, SnapshotRecord) and r.id not in self._scored)
            finally:  # idle means scored and, when one was due, flushed
                with self._done:
                    self._queued -= len(items)
                    self._done.notify_all()

    def _gather(self, first: SnapshotRecord, held: list[object]) -> list[SnapshotRecord]:
        """``first`` and the snapshots queued right behind it, up to BATCH_COUNT of them and BATCH_BYTES of
        state: scored together, in one search per kind. Anything else met is held, to be done next."""
        batch, size = [first], first.state_size
        while len(batch) < BATCH_COUNT and size < BATCH_BYTES:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, SnapshotRecord):
                held.append(item)
                break
            batch.append(item)
            size += item.state_size
        return batch

    def _abandon(self, items: list[object]) -> None:
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        left = [i for i in items if i is not STOP]
        if left:
            log.info("rarity: stopping with %d queued items not done; the next start queues them again", len(left))
        with self._done:
            self._queued = 0
            self._done.notify_all()

    def _score(self, records: list[SnapshotRecord]) -> None:
        """Embed, score and add ``records`` (in commit order), one batch per space; record what cannot be."""
        by_space: dict[str, list[tuple[SnapshotRecord, SpaceRecord]]] = {}
        spaces: dict[str, SpaceRecord] = {}  # world -> its space, looked up once per batch
        for record in records:
            try:
                space = spaces.get(record.world)
                if space is None:
                    space = spaces[record.world] = self.meta.get_space(self.meta.get_world(record.world).space)
            except Exception as exc:
                self._failed_now(record, exc)
                continue
            by_space.setdefault(space.name, []).append((record, space))
        for name, group in by_space.items():
            engine, items, known = self.engine(name), [], []
            for record, space in group:
                if record.id in engine.unscorable:
                    continue
                if engine.has_snapshot(record.id):  # already added (by a rebuild that listed it)
                    known.append(record.id)
                    continue
                try:
                    frames, players = snapshot_vectors(self.blobs, record, space)
                except Exception as exc:
                    self._refused(name, engine, record, exc)
                    continue
                items.append((record, frames, players if engine.player_dim else None))
            results, refused = engine.add_snapshots([(r.id, r.world, f, p) for r, f, p in items]) if items else ({}, {})
            for record, _, _ in items:
                if record.id in refused:
                    self._refused(name, engine, record, refused[record.id])
            added = [(r, f, p) for r, f, p in items if r.id in results]
            with self._done:
                self._scored.update([*known, *(r.id for r, _, _ in added)])
                if added:
                    self._dirty.add(name)
                self._since_flush += len(added)
                self._rows_since_flush += sum(len(f) + (len(p) if p is not None else 0) for _, f, p in added)
                watchers = list(self._watchers)
                self._done.notify_all()
            for result in (kind for r, _, _ in added for kind in results[r.id].values()):
                for score in result.scores:
                    for q, wanted in watchers:
                        if wanted(name, score):
                            q.put((name, score))

    def _refused(self, space: str, engine: RarityEngine, record: SnapshotRecord, exc: Exception) -> None:
        if passing(exc):
            self._failed_now(record, exc)
        else:
            self._unscorable(space, engine, record, exc)

    def _failed_now(self, record: SnapshotRecord, exc: Exception) -> None:
        """A failure that may pass (the blob store is down): reported, not recorded; the next start tries again."""
        log.error("rarity: scoring snapshot %s failed; it is tried again at the next start", record.id, exc_info=exc)
        with self._done:
            self._failed[record.id] = str(exc)
            self._done.notify_all()

    def _unscorable(self, space: str, engine: RarityEngine, record: SnapshotRecord, exc: Exception, *,
                    dirty: bool = True) -> None:
        """Record (in ``engine``, saved with it) and report that ``record`` cannot be scored."""
        reason = f"{type(exc).__name__}: {exc}"
        engine.mark_unscorable(record.id, reason)
        log.error("rarity: snapshot %s (world %s, space %s) cannot be scored and is recorded as unscorable; "
                  "the rest goes on", record.id, record.world, space, exc_info=exc)
        with self._done:
            self._failed[record.id] = engine.unscorable[record.id]
            if dirty:
                self._dirty.add(space)
            self._done.notify_all()

    def _rebuild(self, space: SpaceRecord) -> None:
        """Rebuild ``space``'s engine from every stored snapshot, then serve it (the old one serves meanwhile)."""
        engine, added = RarityEngine.for_space(space, self.config), []
        started = time.monotonic()
        try:
            stored = space_snapshots(self.meta, space.name)
            with engine.bulk():
                for record in stored:
                    if self._stopping.is_set():
                        raise Abandoned
                    try:
                        frames, players = snapshot_vectors(self.blobs, record, space)
                        engine.add_snapshot(record.id, record.world, frames=frames,
                                            players=players if engine.player_dim else None)
                    except Exception as exc:
                        if passing(exc):
                            raise
                        self._unscorable(space.name, engine, record, exc, dirty=False)  # dirty once swapped in
                        continue
                    added.append(record.id)
        except Exception as exc:
            if isinstance(exc, Abandoned) or not passing(exc):
                raise
            log.exception("rarity: rebuilding the index of %s failed; trying again in %.0f s", space.name, RETRY_S)
            if not self._stopping.wait(RETRY_S):
                self._enqueue(Rebuild(space))
            return
        with self._done:
            self._engines[space.name] = engine
            self._rebuilding.discard(space.name)
            self._scored.update(added)
            self._dirty.add(space.name)
            self._done.notify_all()
        log.info("rarity: rebuilt the index of %s from %d stored snapshots (%d vectors) in %.1f s", space.name,
                 len(added), engine.rows(), time.monotonic() - started)
