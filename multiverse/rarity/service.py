"""The rarity service: one engine per latent space, following the metadata's commit order, persisted in the blob store.

Where the snapshots come from: the metadata's commit sequence (``Metadata.commits_after``, multiverse/metadata/
commitlog.py), not an in-process listener, so a worker in another process than the store misses nothing. The
follower thread (``follow.py``) polls it for each space this process holds and queues what the space's engine
lacks; one worker thread (``worker.py``) embeds, scores and adds it, in commit order. ``snapshot_saved`` (subscribed
to ``meta.commits`` where the store runs in this process) only wakes the follower early. ``wait_scored(snapshot_id)``
blocks until a snapshot is in the index this process serves; ``pending`` counts what is committed and not scored
yet. ``watch`` streams newly scored vectors at or above a tier. Reads are in ``answers.py``.

Roles (``role``): ``embedded`` (one process scores every space, without leases: ``multiverse up``); ``worker``
(spaces spread over the workers by lease, each its fair share: ``tenure.py``); ``reader`` (scores nothing: the HTTP
gateway or the market of a split topology). Every role serves the spaces it does not hold from their persisted
index, reloaded when its pointer moves (checked every ``reload_s``).

Start and stop take seconds, whatever the backlog. ``open`` loads each held space's saved engine (every score it
had) and queues, in commit order, what metadata holds beyond the seq its pointer covers (saves after the last
flush, e.g. before a crash); it replays nothing itself. An engine that is missing, damaged or built under another
configuration is rebuilt by the worker from metadata and blobs, while reads answer from what is there, then saved
and pointed at. ``close`` lets the worker finish the snapshot in hand, abandons the rest of the queue (metadata
still holds it: the next start queues it again), saves what was scored and gives its leases up.

A stored snapshot that cannot be scored (its state does not read, say) is recorded as unscorable in its space's
engine (``RarityEngine.unscorable``, saved with it, so it is not tried again at every start), logged once, listed
by ``describe()``, and ``wait_scored`` raises for it; the rest goes on. A failure that may pass (the blob store
is down) is not recorded: the snapshot is tried again after a few seconds, and the persisted seq stays below it.

Persistence: ``flush`` saves every changed engine to the blob store and points the metadata at each manifest with
the seq it covers (``Metadata.point_rarity_index``; fenced by the space's lease in the worker role, so a worker
that lost its lease cannot point the space at its stale index). It runs on ``close``, once the backlog that
``open`` queued is done, when ``persist_every`` snapshots *and* ``persist_fraction`` of the changed engines'
vectors were added since the last flush (a flush writes whole engines: this bounds the bytes written per vector
added to about 1 / persist_fraction times the new data, 20x by default, however small the snapshots are), and,
so that readers in other processes lag seconds, when anything changed and ``publish_s`` passed since the last
flush while the changed engines hold at most ``publish_rows`` vectors (small engines are cheap to rewrite), and at
least PUBLISH_SHARE_INV times as long as the last flush took: a timed flush takes at most a tenth of the worker's
time, which scores nothing while it writes (an engine of 40,000 frames rewritten every 2 s had held scoring back
by half a minute under 16 servers' saves).
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

from multiverse.errors import InvalidArgument, MultiverseError, Unavailable
from multiverse.metadata.leases import Lease, LeaseLost, holder_id
from multiverse.rarity.answers import Answers
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.follow import Follower
from multiverse.rarity.persist import blobs_of
from multiverse.rarity.sync import LegacyPointers
from multiverse.rarity.tenure import Tenure
from multiverse.rarity.types import RarityConfig, RarityScore
from multiverse.rarity.worker import CHECKPOINT, STOP, Worker
from multiverse.records import SnapshotRecord, SpaceRecord

log = logging.getLogger("multiverse.rarity")
PUBLISH_SHARE_INV = 10  # a timed flush waits at least this many times as long as the last flush took
ROLES = ("embedded", "worker", "reader")


class RarityService(Worker, Follower, Answers):
    def __init__(self, meta: Any, blobs: Any, state_dir: Path, config: RarityConfig | None = None, *,
                 persist_every: int = 64, persist_fraction: float = 0.05, role: str = "embedded",
                 holder: str = "", lease_ttl_s: float = 5.0, poll_s: float = 0.5, reload_s: float = 1.0,
                 publish_s: float | None = None, publish_rows: int = 50_000) -> None:
        if role not in ROLES:
            raise InvalidArgument("rarity.role", role, f"use one of {', '.join(ROLES)}")
        self.meta, self.blobs, self.config = meta, blobs, config or RarityConfig()
        self.role, self.poll_s, self.reload_s = role, poll_s, reload_s
        self._tenure = Tenure(meta, holder or holder_id(), lease_ttl_s) if role == "worker" else None
        self._legacy = LegacyPointers(Path(state_dir) / "pointers.json")
        self._legacy_digests: dict[str, str] = {}
        self.persist_every, self.persist_fraction = persist_every, persist_fraction
        # timed publishing is for readers in other processes: a worker's; one process serving every space (embedded)
        # has none, and rewriting its engines every 2 s only takes time from scoring
        self.publish_s = (2.0 if role == "worker" else 0.0) if publish_s is None else publish_s
        self.publish_rows = publish_rows
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
        self._last_flush = time.monotonic()
        self._flush_cost = 0.0  # seconds the last flush took
        self._watchers: list[tuple[queue.Queue, Callable[[str, RarityScore], bool]]] = []
        # what this process holds, and how far along the commit sequence each held space is (follow.py)
        self._held: dict[str, Lease | None] = {}
        self._epochs: dict[str, int] = {}
        self._epoch_counter = 0
        self._fetched: dict[str, int] = {}  # queued up to this seq
        self._covered: dict[str, int] = {}  # done up to this seq (what a flush may say the index covers)
        self._stuck: dict[str, list] = {}  # [seq, when, retrying] of the first snapshot a passing fault held back
        self._surrendering: set[str] = set()
        self._reload: set[str] = set()  # spaces to load again from their pointer (a lost lease)
        self._stale: set[str] = set()  # spaces served from an index of another configuration
        self._pointer_seqs: dict[str, int] = {}  # the seq each followed (not held) space's loaded index covers
        self._round = self._polled = 0
        self._wake = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._run, name="rarity-worker", daemon=True)
        self._follower = threading.Thread(target=self._follow, name="rarity-follower", daemon=True)
        # the worker role's leases are renewed by a thread of their own, so that loading a big index (a takeover,
        # a followed space) on the follower never lets the others expire
        self._taking: dict[str, Lease | None] = {}  # leases taken whose index is loading (None: lost meanwhile)
        self._keeper = threading.Thread(target=self._keep, name="rarity-keeper", daemon=True)
        self._worker.start()

    @property
    def holder(self) -> str:
        """This worker's name in the leases ("" outside the worker role)."""
        return self._tenure.holder if self._tenure else ""

    # -- start and stop --------------------------------------------------------------------------------
    @classmethod
    def open(cls, meta: Any, blobs: Any, state_dir: Path, config: RarityConfig | None = None,
             **kwargs: Any) -> RarityService:
        """The service serving every space's saved engine, with what the held ones lack queued to the worker and
        the engines that could not be loaded queued for a rebuild (see the module docstring)."""
        service = cls(meta, blobs, state_dir, config, **kwargs)
        try:
            service._start()
        except BaseException:
            service._stop_worker()
            raise
        return service

    def _start(self) -> None:
        self._legacy_digests = self._legacy.read()  # the file: where releases before migration 0003 kept them
        if self._tenure is not None:
            self._keeper.start()
        self._tend()
        self._follow_pointers()  # the spaces held elsewhere: served from their persisted index at once
        with self._lock:
            held = sorted(self._held)
        self._poll()
        for name in held:
            with self._lock:
                engine, queued = self._engines[name], sum(1 for i in list(self._queue.queue)
                                                         if getattr(i, "space", None) == name)
            log.info("rarity: %s serves its saved index (%d vectors); %d later snapshots queued for scoring",
                     name, engine.rows(), queued)
        self._enqueue(CHECKPOINT)
        self._follower.start()

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
        it, so the next start queues it again), save what was scored, give the leases up."""
        self._stop_worker()
        try:
            self.flush()
        finally:
            if self._tenure is not None:
                with self._lock:
                    held = dict(self._held)
                self._tenure.leave(held)

    def _stop_worker(self) -> None:
        """Stop both threads (the worker finishes the item in hand); leases are kept until close gives them up."""
        self._stopping.set()
        self._wake.set()
        self._queue.put(STOP)
        self._worker.join()
        for thread in (self._follower, self._keeper):
            if thread.is_alive():
                thread.join()

    # -- the store's listener --------------------------------------------------------------------------
    def snapshot_saved(self, record: SnapshotRecord) -> None:
        """A commit of this process (subscribed to the metadata's ``commits`` event): poll the metadata now. Only a
        hint: the follower finds every commit by its seq, this one or another process's, without it."""
        self._wake.set()

    def _enqueue(self, item: object) -> None:
        with self._lock:
            self._queued += 1
        self._queue.put(item)

    @property
    def pending(self) -> int:
        """Snapshots committed but not scored yet: those queued (a rebuild and the start-up checkpoint count one
        each) and those of held spaces the follower has not fetched yet (a save it has not polled for: a save that
        returned is never missing from it)."""
        with self._lock:
            queued = self._queued
            fetched = {n: self._fetched[n] for n in self._held if n in self._fetched and n not in self._rebuilding}
        return queued + sum(self.meta.count_after(seq, name) for name, seq in fetched.items())

    def wait_scored(self, snapshot: str, timeout: float = 30.0) -> bool:
        """Block until ``snapshot`` is in the index this process serves (True) or ``timeout`` passes (False): one
        it scored, or, for a space another worker holds, the persisted index it loaded. A snapshot whose scoring
        failed raises the error it failed with."""
        deadline = time.monotonic() + timeout
        while True:
            with self._done:
                if snapshot in self._scored:
                    return True
                if snapshot in self._failed:
                    raise MultiverseError(f"snapshot {snapshot} could not be scored: {self._failed[snapshot]}")
                engines = list(self._engines.values())
            if any(engine.has_snapshot(snapshot) for engine in engines):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._done:
                self._done.wait(min(left, 0.25))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every commit made before this call is fetched and nothing is queued."""
        deadline = time.monotonic() + timeout
        with self._done:
            want = self._round + 1
        self._wake.set()
        with self._done:
            while self._queued or (self._polled < want and self._follower.is_alive()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.25))
                self._wake.set()
            return True

    def _surrender(self, name: str, epoch: int) -> None:
        """Give space ``name`` up to another worker (this one holds more than its share): flush it, then release."""
        with self._lock:
            lease = self._held.get(name)
            if self._epochs.get(name) != epoch or lease is None:
                self._surrendering.discard(name)
                return
        self._flush(only=name)
        with self._done:
            if self._epochs.get(name) == epoch:
                self._release_locked(name)
        self._tenure.release(lease)
        log.info("rarity: %s gave %s up to another worker (its fair share is smaller now)", self.holder, name)

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
        """Enough snapshots and enough new vectors since the last flush, or, for small engines, ``publish_s``
        since the last (see the module docstring)."""
        with self._lock:
            if not self._dirty:
                return False
            rows = sum(self._engines[name].rows() for name in self._dirty)
            added, count = self._rows_since_flush, self._since_flush
            waited = time.monotonic() - self._last_flush
        if self.publish_s and waited >= max(self.publish_s, PUBLISH_SHARE_INV * self._flush_cost) \
                and rows <= self.publish_rows:
            return True
        return bool(self.persist_every) and count >= self.persist_every and added >= self.persist_fraction * rows

    def flush(self) -> dict[str, str]:
        """Save every changed engine of a held space to the blob store and point the metadata at it, with the
        commit seq it covers; returns {space: manifest digest}. A space's superseded save is deleted once the
        pointer has moved off it, unless another process moved the pointer meanwhile (then nothing of either is
        deleted). A space whose lease turns out lost is dropped (``_lose``), its save left unpointed."""
        return self._flush()

    def _flush(self, only: str | None = None) -> dict[str, str]:
        with self._lock:
            self._dirty &= set(self._held)  # a space no longer held is not ours to save
            dirty = sorted(n for n in self._dirty if only in (None, n))
            counts = (self._since_flush, self._rows_since_flush) if only is None else (0, 0)
            self._dirty -= set(dirty)
            if only is None:
                self._since_flush, self._rows_since_flush, self._last_flush = 0, 0, time.monotonic()
            jobs = {n: (self._engines[n], self._held[n], self._epochs[n], self._safe_seq(n)) for n in dirty}
        saved: list[str] = []
        started = time.monotonic()
        try:
            for name, (engine, lease, epoch, seq) in jobs.items():
                digest = engine.save(self.blobs)
                try:
                    before = self.meta.point_rarity_index(name, digest, time.time(), seq=seq, lease=lease)
                except LeaseLost:
                    saved.append(name)
                    self._lose(name, epoch)  # its save stays unpointed (its blobs may be shared: nothing deleted)
                    continue
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
            if jobs:
                self._flush_cost = time.monotonic() - started
            return {n: d for n, d in self._digests.items() if n in self._held}

    def _safe_seq(self, name: str) -> int:
        """The seq a flush of ``name`` may say its index covers: done, and below any snapshot held back."""
        seq = self._covered.get(name, 0)
        stuck = self._stuck.get(name)
        return min(seq, stuck[0] - 1) if stuck else seq

    def _drop(self, superseded: str) -> None:
        """Delete a superseded save's blobs, except any that a current save shares (equal bytes)."""
        with self._lock:
            current = list(self._digests.values())
        keep = set().union(*(blobs_of(self.blobs, d) for d in current))
        for digest in blobs_of(self.blobs, superseded) - keep:
            self.blobs.delete(digest)

    def describe(self) -> dict[str, Any]:
        """What the service holds: spaces, what is queued, each space's saved manifest, the spaces being rebuilt,
        the index version and N each kind answers from, the snapshots recorded as unscorable (with why), and the
        spaces this process scores with the commit seq each has covered."""
        with self._lock:
            engines, out = dict(self._engines), {
                "spaces": sorted(self._engines), "pending": self._queued, "digests": dict(self._digests),
                "rebuilding": sorted(self._rebuilding), "role": self.role, "holder": self.holder,
                "held": {name: self._covered.get(name, 0) for name in sorted(self._held)}}
        out["serving"] = {name: engine.versions() for name, engine in sorted(engines.items())}
        out["unscorable"] = {name: dict(engine.unscorable) for name, engine in sorted(engines.items())
                             if engine.unscorable}
        return out
