"""The rarity service's worker: one thread that scores what the follower queued, in commit order, and rebuilds.

Items on the queue: ``Fetched`` (a committed snapshot of a space this process holds: score it), ``Mark`` (every
snapshot of a space up to a seq was queued ahead of it: the persisted index may say it covers them once they are
done), ``Rebuild`` (rebuild a space's engine from every committed snapshot, then serve it), ``Surrender`` (flush a
space, then give its lease up to another worker), ``CHECKPOINT`` (save what the start-up backlog changed) and
``STOP``. Each item names the tenure (``epoch``) it was queued under: once the space's lease is lost (or given up),
its items are dropped unscored, so a worker that lost a space never scores into it again. Snapshots queued together
are scored together (``RarityEngine.add_snapshots``: one search per kind for the batch), so a backlog of small
saves costs a few batches rather than one search each. Once the service is stopping, the worker finishes the item
in hand (a rebuild stops between snapshots) and drops the rest: metadata still holds it, and the next start (or
the next holder) queues it again from the persisted index's seq.

A chunked state is read by ``chunked.ChunkReader``: the frames whose chunks the space's index has already scored
(or that an earlier snapshot of the batch read) are neither read nor embedded, and are registered onto the rows
they came to (``chunkrows.py``: a cache, empty after a restart, that never changes a score); a sliding window's
save costs its new frames.

A snapshot that cannot be scored is recorded in its engine as unscorable (``RarityEngine.mark_unscorable``, saved
with the engine) and reported; a failure that may pass (``passing``: the blob store is down, say) is reported and
holds the space's persisted seq below it, and the follower queues it again after ``RETRY_S``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multiverse.rarity.chunked import ChunkReader
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.sync import committed, snapshot_vectors
from multiverse.rarity.types import RarityScore
from multiverse.records import SnapshotRecord, SpaceRecord

log = logging.getLogger("multiverse.rarity")

STOP = object()
CHECKPOINT = object()  # queued after the start-up backlog: save what it changed
RETRY_S = 5.0  # a passing fault (the blob store is down): the snapshot, or the rebuild, is tried again after this
BATCH_COUNT, BATCH_BYTES = 256, 64 << 20  # snapshots queued together are scored together, up to these


@dataclass(frozen=True)
class Fetched:
    record: SnapshotRecord
    space: str
    epoch: int


@dataclass(frozen=True)
class Mark:
    space: str
    seq: int
    epoch: int


@dataclass(frozen=True)
class Rebuild:
    space: SpaceRecord
    epoch: int = 0


@dataclass(frozen=True)
class Surrender:
    space: str
    epoch: int


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
    publish_s: float
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
    _epochs: dict[str, int]
    _covered: dict[str, int]
    _fetched: dict[str, int]
    _stuck: dict[str, list]
    _watchers: list[tuple[queue.Queue, Callable[[str, RarityScore], bool]]]
    # frames in chunks already scored are neither read nor embedded again (chunked.py, chunkrows.py); False reads
    # every snapshot whole (what the tests compare it with)
    reuse_chunks = True

    # and calls its engine(), _enqueue(), _flush_due(), _save_quietly() and _surrender()

    def _run(self) -> None:
        held: list[object] = []  # taken from the queue while gathering a batch, to be done next
        while True:
            try:
                item = held.pop(0) if held else self._queue.get(timeout=self.publish_s or None)
            except queue.Empty:  # idle: publish what changed when a timed flush is due
                self._save_quietly(self._flush_due())
                continue
            if item is STOP or self._stopping.is_set():
                self._abandon([item, *held])
                return
            items = [item]
            try:
                if isinstance(item, Rebuild):
                    self._rebuild(item.space, item.epoch)
                elif isinstance(item, Surrender):
                    self._surrender(item.space, item.epoch)
                elif isinstance(item, Mark):
                    self._mark([item])
                elif item is CHECKPOINT:
                    self._save_quietly(bool(self._dirty))
                else:
                    items, marks = self._gather(item, held)
                    self._score(items)
                    self._mark(marks)
                    self._save_quietly(self._flush_due())
            except Abandoned:
                pass
            except Exception as exc:  # a fault of ours: reported; what it left unscored is tried at the next start
                log.exception("rarity: the worker failed on %s", type(item).__name__)
                with self._done:
                    self._failed.update((i.record.id, str(exc)) for i in items
                                        if isinstance(i, Fetched) and i.record.id not in self._scored)
            finally:  # idle means scored and, when one was due, flushed
                with self._done:
                    self._queued -= sum(1 for i in items if not isinstance(i, Mark))
                    self._done.notify_all()

    def _gather(self, first: Fetched, held: list[object]) -> tuple[list[Fetched], list[Mark]]:
        """``first`` and the snapshots queued right behind it, up to BATCH_COUNT of them and BATCH_BYTES of
        state: scored together, in one search per kind; the marks met on the way apply after them. Anything
        else met is held, to be done next."""
        batch, marks, size = [first], [], first.record.state_size
        while len(batch) < BATCH_COUNT and size < BATCH_BYTES:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Mark):
                marks.append(item)
                continue
            if not isinstance(item, Fetched):
                held.append(item)
                break
            batch.append(item)
            size += item.record.state_size
        return batch, marks

    def _mark(self, marks: list[Mark]) -> None:
        with self._lock:
            for m in marks:
                if self._epochs.get(m.space) == m.epoch:
                    self._covered[m.space] = max(self._covered.get(m.space, 0), m.seq)

    def _abandon(self, items: list[object]) -> None:
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        left = [i for i in items if i is not STOP and not isinstance(i, Mark)]
        if left:
            log.info("rarity: stopping with %d queued items not done; the next start queues them again", len(left))
        with self._done:
            self._queued = 0
            self._done.notify_all()

    def _score(self, fetched: list[Fetched]) -> None:
        """Embed, score and add the snapshots fetched (in commit order), one batch per space; record what cannot
        be. Items of a tenure that ended (the lease was lost or given up) are dropped first."""
        by_space: dict[str, list[Fetched]] = {}
        with self._lock:
            for item in fetched:
                if self._epochs.get(item.space) == item.epoch:
                    by_space.setdefault(item.space, []).append(item)
        for name, group in by_space.items():
            space = self._space_record(name)
            engine, items, known = self.engine(name), [], []
            reader = ChunkReader(self.blobs, space, engine) if self.reuse_chunks else None
            for item in group:
                record = item.record
                if record.id in engine.unscorable:
                    continue
                if engine.has_snapshot(record.id):  # already added (by a rebuild that listed it)
                    known.append(record.id)
                    continue
                try:
                    frames, players = reader.read(record) if reader else snapshot_vectors(self.blobs, record, space)
                except Exception as exc:
                    self._refused(name, engine, item, exc)
                    continue
                items.append((item, frames, players if engine.player_dim else None))
            results, refused = (engine.add_snapshots([(i.record.id, i.record.world, f, p) for i, f, p in items])
                                if items else ({}, {}))
            for item, _, _ in items:
                if item.record.id in refused:
                    self._refused(name, engine, item, refused[item.record.id])
            added = [(i.record, f, p) for i, f, p in items if i.record.id in results]
            with self._done:
                self._scored.update([*known, *(r.id for r, _, _ in added)])
                stuck = self._stuck.get(name)
                done = {i.record.seq for i in group if i.record.id in self._scored or i.record.id in engine.unscorable}
                if stuck and stuck[2] and stuck[0] in done:
                    del self._stuck[name]  # the retried snapshot is done now
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

    def _space_record(self, name: str) -> SpaceRecord:
        cache: dict[str, SpaceRecord] = self.__dict__.setdefault("_space_records", {})
        if name not in cache:
            cache[name] = self.meta.get_space(name)
        return cache[name]

    def _refused(self, space: str, engine: RarityEngine, item: Fetched, exc: Exception) -> None:
        if passing(exc):
            self._failed_now(item, exc)
        else:
            self._unscorable(space, engine, item.record, exc)

    def _failed_now(self, item: Fetched, exc: Exception) -> None:
        """A failure that may pass (the blob store is down): reported, not recorded; the space's persisted seq
        stays below it and the follower queues it again after RETRY_S."""
        log.error("rarity: scoring snapshot %s failed; it is tried again in %.0f s", item.record.id, RETRY_S,
                  exc_info=exc)
        with self._done:
            self._failed[item.record.id] = str(exc)
            stuck = self._stuck.get(item.space)
            if item.record.seq is not None and (not stuck or stuck[2] or item.record.seq < stuck[0]):
                self._stuck[item.space] = [item.record.seq, time.monotonic(), False]
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

    def _rebuild(self, space: SpaceRecord, epoch: int) -> None:
        """Rebuild ``space``'s engine from every committed snapshot, in commit order, then serve it (the old one
        serves meanwhile) as covering the commits up to the last one listed."""
        engine, added = RarityEngine.for_space(space, self.config), []
        reader = ChunkReader(self.blobs, space, engine) if self.reuse_chunks else None
        started = time.monotonic()
        try:
            stored = committed(self.meta, space.name)
            with engine.bulk():
                for record in stored:
                    if self._stopping.is_set() or self._epochs.get(space.name) != epoch:
                        raise Abandoned
                    try:
                        if reader:
                            reader.new_batch()  # each snapshot is committed before the next is read
                        frames, players = (reader.read(record) if reader
                                           else snapshot_vectors(self.blobs, record, space))
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
                self._enqueue(Rebuild(space, epoch))
            return
        with self._done:
            if self._epochs.get(space.name) != epoch:
                return  # the lease was lost meanwhile: the new holder serves the space
            self._engines[space.name] = engine
            self._covered[space.name] = self._fetched[space.name] = stored[-1].seq if stored else 0
            self._rebuilding.discard(space.name)
            self._scored.update(added)
            self._dirty.add(space.name)
            self._since_flush += len(added)  # all new to the index the pointer names
            self._rows_since_flush += engine.rows()
            self._done.notify_all()
        log.info("rarity: rebuilt the index of %s from %d stored snapshots (%d vectors) in %.1f s", space.name,
                 len(added), engine.rows(), time.monotonic() - started)
