"""The rarity service's follower: one thread that keeps this process in step with the metadata.

Each round (every ``poll_s``, or at once when a commit of this process wakes it: ``RarityService.snapshot_saved``
is only a hint, correctness comes from the seq) it
- tends the leases (worker role, every third of the TTL: multiverse/rarity/tenure.py): renews what it holds, and
  a space whose lease is lost stops being scored at once (its tenure ends: queued items are dropped, nothing is
  flushed) and is served from its persisted index again; takes free spaces up to its fair share; gives the surplus
  up through the worker (flushed first). The embedded role holds every space, without leases; a reader none;
- polls ``commits_after(seq)`` for each space it holds and queues what the space's engine lacks, then a ``Mark``
  (everything up to that seq is queued ahead of it), so the persisted seq only ever covers scored snapshots;
- follows the pointers of the spaces it does not hold (every ``reload_s``): when a holder published a new
  manifest, it loads it and serves it from then on, and tells its watchers (``watch``: the gallery's live feed) of
  the vectors of the snapshots the new manifest covers beyond the one it replaced, as the holder told its own.
Taking a space loads the persisted index the pointer names (unless it is what this process serves already) and
catches up from the seq the pointer covers, skipping what the index has (``has_snapshot``): nothing is scored
twice into one index, and nothing is skipped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import replace
from typing import Any

from multiverse.metadata.leases import Lease
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.tenure import Tenure, plan
from multiverse.rarity.worker import RETRY_S, Fetched, Mark, Rebuild, Surrender

log = logging.getLogger("multiverse.rarity")
PAGE = 1000  # commits fetched per query


class Follower:
    """The follower's part of ``RarityService`` (which owns the state it names and starts ``_follow``)."""

    meta: Any
    blobs: Any
    config: Any
    role: str
    poll_s: float
    reload_s: float
    _tenure: Tenure | None
    _lock: threading.RLock
    _done: threading.Condition
    _queue: queue.Queue
    _stopping: threading.Event
    _wake: threading.Event
    _engines: dict[str, RarityEngine]
    _digests: dict[str, str]
    _held: dict[str, Lease | None]
    _epochs: dict[str, int]
    _fetched: dict[str, int]
    _covered: dict[str, int]
    _stuck: dict[str, list]
    _rebuilding: set[str]
    _surrendering: set[str]
    _reload: set[str]
    _dirty: set[str]
    _failed: dict[str, str]
    _round: int
    _polled: int
    _queued: int
    _epoch_counter: int
    _stale: set[str]
    _legacy_digests: dict[str, str]
    _watchers: list[tuple[queue.Queue, Any]]
    _taking: dict[str, Lease | None]
    _pointer_seqs: dict[str, int]

    # and calls its _load()

    def _follow(self) -> None:
        tend_at = reload_at = 0.0
        while not self._stopping.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stopping.is_set():
                return
            with self._done:
                self._round += 1
                this = self._round
            found = 1
            try:
                now = time.monotonic()
                if now >= tend_at:  # embedded: every round (a new space is held before its first commit is polled)
                    self._tend()
                    tend_at = now + (self._tenure.ttl_s / 3 if self._tenure else 0.0)
                if now >= reload_at:
                    self._follow_pointers()
                    reload_at = now + self.reload_s
                self._retry_stuck()
                found = self._poll()
            except Exception:  # the database is down, say: try again next round
                log.exception("rarity: following the metadata failed; trying again")
                self._stopping.wait(1.0)
            with self._done:
                if not found:
                    self._polled = this  # a round that began after a wait_idle call found nothing new
                self._done.notify_all()

    # -- leases ----------------------------------------------------------------------------------------
    def _tend(self) -> None:
        if self.role == "reader":
            return
        names = [s.name for s in self.meta.list_spaces()]
        if self._tenure is None:  # embedded: every space, no lease
            for name in names:
                if name not in self._held:
                    self._take(name, None)
            return
        tenure = self._tenure
        tenure.announce()
        with self._lock:
            held_now = set(self._held) - self._surrendering
        todo = plan(tenure.holder, held_now, names, tenure.live())
        for name in todo.take:
            if len(held_now) >= todo.share:
                break
            lease = tenure.take(name)
            if lease is not None:
                self._take(name, lease)
                held_now.add(name)
        for name in todo.give_up:
            with self._lock:
                self._surrendering.add(name)
                epoch = self._epochs[name]
            self._queue.put(Surrender(name, epoch))
            with self._lock:
                self._queued += 1

    def _keep(self) -> None:
        """The keeper thread (worker role): every third of the TTL, announce this worker and renew its leases, those
        of the spaces held and of those whose index is loading; a space whose lease was lost stops being scored."""
        tenure = self._tenure
        while not self._stopping.wait(tenure.ttl_s / 3):
            try:
                tenure.announce()
                with self._lock:
                    held = {n: (lease, self._epochs.get(n)) for n, lease in self._held.items() if lease is not None}
                    taking = {n: lease for n, lease in self._taking.items() if lease is not None}
                for name, (lease, epoch) in held.items():
                    renewed = tenure.renew(lease)
                    with self._lock:
                        current = self._held.get(name) is lease
                        if renewed is not None and current:
                            self._held[name] = renewed
                    if renewed is None:
                        self._lose(name, epoch)
                    elif not current:  # given up meanwhile (a surrender): the renewal must not keep it from others
                        tenure.release(renewed)
                for name, lease in taking.items():
                    renewed = tenure.renew(lease)
                    with self._lock:
                        if self._taking.get(name) is lease:
                            self._taking[name] = renewed  # None: lost while loading, _take gives it up
            except Exception:  # the database is down, say: the next round tries again, within the TTL
                log.exception("rarity: renewing the leases failed; trying again")

    def _take(self, name: str, lease: Lease | None) -> None:
        """Hold space ``name`` from now: serve the index its pointer names, catch up from the seq it covers."""
        if lease is not None:
            with self._lock:
                self._taking[name] = lease  # renewed by the keeper while the index loads
        try:
            space = self.meta.get_space(name)
            pointer = self.meta.rarity_pointers().get(name)
            digest = pointer.manifest if pointer else self._legacy_digests.get(name)
            with self._lock:
                reuse = (digest is not None and self._digests.get(name) == digest and name in self._engines
                         and name not in self._reload and name not in self._stale)
            if digest is None and not self.meta.commits_after(0, 1, space=name):  # a new space: nothing to rebuild
                engine, current = RarityEngine.for_space(space, self.config), True
            else:
                engine, current = (self._engines[name], True) if reuse else self._load(space, digest)
        except BaseException:  # not renewed any more: it expires, and the next round (here or elsewhere) takes it
            with self._lock:
                self._taking.pop(name, None)
            raise
        with self._done:
            if lease is not None:
                lease = self._taking.pop(name, None)
                if lease is None:
                    log.warning("rarity: the lease of %s was lost while its index loaded; another worker scores it",
                                name)
                    return
            self._epoch_counter += 1
            epoch = self._epochs[name] = self._epoch_counter
            self._held[name] = lease
            self._pointer_seqs.pop(name, None)  # held: its worker announces; following again starts afresh
            self._engines[name] = engine
            self._reload.discard(name)
            self._stale.discard(name)
            if digest:
                self._digests[name] = digest
            self._failed.update(engine.unscorable)
            start = pointer.seq if pointer and pointer.manifest == digest else 0
            self._fetched[name] = self._covered[name] = start
            if digest and (pointer is None or pointer.manifest != digest):
                self._dirty.add(name)  # a pointer file's engine: saved and pointed at by the checkpoint
            if not current:
                self._rebuilding.add(name)
                self._queued += 1
                self._queue.put(Rebuild(space, epoch))
            self._done.notify_all()
        if engine.unscorable:
            log.warning("rarity: %d stored snapshots of %s are recorded as unscorable and skipped "
                        "(RarityService.describe() lists them)", len(engine.unscorable), name)
        if lease is not None:
            log.info("rarity: %s now scores %s (lease token %d), from commit seq %d", lease.holder, name,
                     lease.token, start)

    def _lose(self, name: str, epoch: int | None) -> None:
        """Stop scoring ``name`` at once (its lease expired and may be another's): end the tenure, so queued work
        is dropped and nothing is flushed; serve the persisted index again (reloaded at the next round)."""
        with self._done:
            if name not in self._held or self._epochs.get(name) != epoch:
                return
            self._release_locked(name)
            self._reload.add(name)
            self._done.notify_all()
        log.warning("rarity: the lease of %s was lost (this process stalled past its TTL?); it stops scoring it "
                    "and serves the persisted index", name)

    def _release_locked(self, name: str) -> None:
        self._held.pop(name, None)
        self._epoch_counter += 1
        self._epochs[name] = self._epoch_counter  # queued items of the old tenure are dropped
        for table in (self._fetched, self._covered, self._stuck):
            table.pop(name, None)
        self._dirty.discard(name)
        self._rebuilding.discard(name)
        self._surrendering.discard(name)

    # -- commits ---------------------------------------------------------------------------------------
    def _poll(self) -> int:
        """Queue what each held space lacks of the commits after its seq; returns how many commits were new."""
        found = 0
        with self._lock:
            spaces = [n for n in self._held if n not in self._rebuilding and n not in self._surrendering]
        for name in spaces:
            while True:
                with self._lock:
                    if name not in self._held:
                        break
                    after, epoch, engine = self._fetched[name], self._epochs[name], self._engines[name]
                records = self.meta.commits_after(after, PAGE, space=name)
                if not records:
                    break
                fresh = [r for r in records if not engine.has_snapshot(r.id) and r.id not in engine.unscorable]
                with self._done:
                    if self._epochs.get(name) != epoch:
                        break
                    self._fetched[name] = records[-1].seq
                    self._queued += len(fresh)
                    for record in fresh:
                        self._queue.put(Fetched(record, name, epoch))
                    self._queue.put(Mark(name, records[-1].seq, epoch))
                found += len(records)
                if len(records) < PAGE:
                    break
        return found

    def _retry_stuck(self) -> None:
        """A snapshot that failed on a passing fault is fetched again RETRY_S later (from just before it)."""
        now = time.monotonic()
        with self._lock:
            for name, stuck in self._stuck.items():
                if not stuck[2] and now - stuck[1] >= RETRY_S and name in self._fetched:
                    self._fetched[name] = min(self._fetched[name], stuck[0] - 1)
                    stuck[2] = True

    # -- readers ---------------------------------------------------------------------------------------
    def _follow_pointers(self) -> None:
        """Serve the newest persisted index of each space this process does not hold."""
        for name, pointer in self.meta.rarity_pointers().items():
            with self._lock:
                if name in self._held or (self._digests.get(name) == pointer.manifest and name not in self._reload):
                    continue
            try:
                engine = RarityEngine.load(self.blobs, pointer.manifest, threads=self.config.threads,
                                           device=self.config.index.device)
            except Exception as exc:  # a save superseded while we read it, say: the next round reads the new one
                log.info("rarity: the index of %s at %s does not load yet (%s)", name, pointer.manifest[:12], exc)
                continue
            engine.loaded_from = pointer.manifest
            with self._done:
                if name in self._held:
                    continue  # taken meanwhile: _take loaded it
                self._engines[name] = engine
                self._digests[name] = pointer.manifest
                since, self._pointer_seqs[name] = self._pointer_seqs.get(name), pointer.seq
                watchers = list(self._watchers)
                self._reload.discard(name)
                if engine.config != replace(self.config, threads=engine.config.threads):
                    self._stale.add(name)
                else:
                    self._stale.discard(name)
                self._failed.update(engine.unscorable)
                self._done.notify_all()
            if watchers and since is not None:
                self._announce(name, engine, since, pointer.seq, watchers)

    def _announce(self, name: str, engine: RarityEngine, since: int, upto: int, watchers: list) -> None:
        """Tell ``watchers`` the scores of the vectors of ``name``'s snapshots committed in (since, upto] that the
        newly loaded ``engine`` holds: a reader's news of what the space's worker scored."""
        while since < upto and not self._stopping.is_set():
            records = [r for r in self.meta.commits_after(since, PAGE, space=name) if r.seq <= upto]
            if not records:
                return
            for record in records:
                for score in engine.snapshot_scores(record.id):
                    for q, wanted in watchers:
                        if wanted(name, score):
                            q.put((name, score))
            since = records[-1].seq
