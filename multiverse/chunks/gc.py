"""The garbage collector: sweep the chunks, packs, manifests and whole state blobs that no kept snapshot needs
and that are older than a grace window (as lakeFS does), safely while saves are in flight.

One collection, with ``start`` its clock at the beginning and ``cutoff = start - grace``:

0. finish what an interrupted collection claimed (see multiverse/chunks/fence.py);
1. mark: the kept snapshots (multiverse/chunks/keep.py), their states, and the chunks of their manifests (live);
2. chunk rows neither live nor touched since the cutoff (the DELETE re-checks ``touched_at``, so a save that
   touched one after the mark keeps it);
3. packs with no chunk rows left, created before the cutoff: claim the row, delete the blob (a pack blob's; an
   inline pack's bytes are in its row), delete the row;
4. manifests (``chunked_states`` rows, which hold them) no kept snapshot names, created before the cutoff: claim,
   then delete the row;
5. the whole blobs of pruned states saved before chunking, which nothing kept names.

Each step is safe if the process dies after it: a chunk row goes before its pack, a claimed row is finished by
the next collection, and nothing is deleted on a mark that failed (an unreadable kept manifest stops everything).
Only blobs the metadata names are ever deleted; the blob store is never listed (pictures, rarity indexes and other
stores' packs live there too). A pack blob whose chunks are partly dead stays whole until all of them are dead: its
dead bytes are reported (``held_bytes``), not repacked; inline packs are compacted when they move into a blob
(``ChunkStore.flush_inline`` copies only the chunks still recorded).

Why a save in flight is safe: every chunk a save counts on was touched by its offer or its manifest (at most
``TOUCH_SLACK_S`` before, multiverse/chunks/store.py), or is inherited from the head its commit moves from (held
by every collection: the proof is in multiverse/chunks/fence.py), its pack and manifest rows were recorded when it
put them, and ``put`` re-checks that every chunk is present before the manifest is recorded. So as long as the grace window
outlasts the touch slack plus the longest save, nothing a save counts on is older than the cutoff before the
save has committed, and once committed its snapshot is kept. ``min_grace`` enforces twice the slack.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from multiverse.chunks import keep
from multiverse.chunks import store as chunk_store
from multiverse.chunks.cut import MAGIC
from multiverse.errors import InvalidArgument
from multiverse.metadata.models import chunk_packs, chunked_states, chunks, rarity_indexes, snapshots

BATCH = 500
KINDS = ("chunks", "packs", "manifests", "whole")
DEFAULT_GRACE_S = 3600.0


def min_grace() -> float:
    """The shortest grace window that keeps saves in flight safe: twice the chunk store's touch slack."""
    return 2 * float(getattr(chunk_store, "TOUCH_SLACK_S", 0.0))


def check_grace(grace_s: float) -> float:
    if not isinstance(grace_s, int | float) or not math.isfinite(grace_s) or grace_s < min_grace():
        raise InvalidArgument("grace", grace_s, f"use at least {min_grace():g} seconds: the grace window must outlast "
                              "the chunk store's touch slack plus the longest save (default 1h)")
    return float(grace_s)


@dataclass
class Tally:
    count: int = 0
    bytes: int = 0

    def add(self, n: int) -> None:
        self.count += 1
        self.bytes += n


@dataclass
class Collection:
    """What a collection swept (or, with ``dry_run``, would sweep), per kind, and what it kept."""

    dry_run: bool
    grace_s: float
    kept_snapshots: int = 0
    kept_states: int = 0
    live_chunks: int = 0
    swept: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    held_packs: int = 0  # packs with some dead chunks, kept whole until all are dead
    held_bytes: int = 0  # the dead bytes inside them
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "grace_s": self.grace_s, "kept_snapshots": self.kept_snapshots,
                "kept_states": self.kept_states, "live_chunks": self.live_chunks,
                "swept": {k: {"count": t.count, "bytes": t.bytes} for k, t in self.swept.items()},
                "held_packs": self.held_packs, "held_bytes": self.held_bytes, "seconds": round(self.seconds, 4)}


def manifest_bytes(count: int) -> int:
    """The size of a manifest blob of ``count`` chunks (multiverse/chunks/cut.py's encoding)."""
    return len(MAGIC) + 12 + 36 * count


class Collector:
    """``meta``: the metadata (SqlMetadata); ``chunks``: the ChunkStore (reads manifests); ``blobs``: the blob
    store the packs, manifests and whole states live in (the raw one, not StateBlobs)."""

    def __init__(self, meta: Any, chunks: chunk_store.ChunkStore, blobs: Any,
                 clock: Callable[[], float] = time.time) -> None:
        self.meta, self.chunks, self.blobs, self.clock = meta, chunks, blobs, clock

    def collect(self, grace_s: float = DEFAULT_GRACE_S, *, dry_run: bool = False) -> Collection:
        began = time.perf_counter()
        out = Collection(dry_run, check_grace(grace_s))
        start = self.clock()
        cutoff = start - out.grace_s
        self._finish_claims(out)
        with self.meta.transaction() as conn:
            kept_ids = keep.kept(conn)
            states = keep.states_of(conn, kept_ids)
            chunked = _among(conn, chunked_states.c.id, states)
            guarded = states | set(conn.execute(sa.select(rarity_indexes.c.manifest)).scalars())
        live: set[str] = set()
        for state in chunked:  # an unreadable kept manifest raises here, before anything is deleted
            manifest = self.chunks.manifest(state)
            if manifest is None:
                raise RuntimeError(f"kept state {state} lost its chunked_states row during the mark")
            live.update(manifest.addresses)
        out.kept_snapshots, out.kept_states, out.live_chunks = len(kept_ids), len(states), len(live)
        dead = self._sweep_chunks(out, live, cutoff)
        self._sweep_packs(out, dead, cutoff, start)
        self._sweep_manifests(out, states, cutoff, start)
        self._sweep_whole(out, guarded, cutoff)
        self._held(out, dead)
        out.seconds = time.perf_counter() - began
        return out

    # -- 0: claims an interrupted collection left --------------------------------------------------------
    def _finish_claims(self, out: Collection) -> None:
        with self.meta.transaction() as conn:
            packs = conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.size)
                                 .where(chunk_packs.c.created_at < 0)).all()
            states = conn.execute(sa.select(chunked_states.c.id, chunked_states.c.chunk_count)
                                  .where(chunked_states.c.created_at < 0)).all()
        for digest, size in packs:
            out.swept["packs"].add(size)
            if not out.dry_run:
                self._drop(chunk_packs, chunk_packs.c.digest, [digest])
        for state, count in states:
            out.swept["manifests"].add(manifest_bytes(count))
            if not out.dry_run:
                self._drop(chunked_states, chunked_states.c.id, [state])

    # -- 2: chunk rows ----------------------------------------------------------------------------------
    def _sweep_chunks(self, out: Collection, live: set[str], cutoff: float) -> dict[str, list[tuple[str, int]]]:
        """Delete the dead chunk rows; returns {pack: [(address, length)]} of those dead (or, dry, that would be)."""
        with self.meta.transaction() as conn:
            rows = conn.execute(sa.select(chunks.c.address, chunks.c.pack, chunks.c.length)
                                .where(chunks.c.touched_at < cutoff)).all()
        doomed = [(a, pack, n) for a, pack, n in rows if a not in live]
        dead: dict[str, list[tuple[str, int]]] = defaultdict(list)
        if out.dry_run:
            for a, pack, n in doomed:
                dead[pack].append((a, n))
                out.swept["chunks"].add(n)
            return dead
        where = {a: pack for a, pack, _ in doomed}
        for part in _batches([a for a, _, _ in doomed]):
            with self.meta.transaction(write=True) as conn:
                gone = conn.execute(chunks.delete().where(chunks.c.address.in_(part), chunks.c.touched_at < cutoff)
                                    .returning(chunks.c.address, chunks.c.length)).all()
            for a, n in gone:
                dead[where[a]].append((a, n))
                out.swept["chunks"].add(n)
        return dead

    # -- 3: packs ---------------------------------------------------------------------------------------
    def _sweep_packs(self, out: Collection, dead: dict[str, list[tuple[str, int]]], cutoff: float,
                     start: float) -> None:
        old = (chunk_packs.c.created_at >= 0) & (chunk_packs.c.created_at < cutoff)
        with self.meta.transaction() as conn:
            if out.dry_run:  # the packs whose every row is dead (or that have none)
                counts = dict(conn.execute(sa.select(chunks.c.pack, sa.func.count()).group_by(chunks.c.pack)).all())
                rows = [(d, size) for d, size in conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.size)
                                                              .where(old))
                        if counts.get(d, 0) == len(dead.get(d, ()))]
            else:
                rows = conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.size)
                                    .where(old, ~_has_chunks())).all()
        # (a pack blob opens with random bytes and a manifest lives in its row: no pack ever shares a digest with a
        # state or a rarity index, so none needs guarding here)
        if out.dry_run:
            for _, size in rows:
                out.swept["packs"].add(size)
            return
        sizes = dict(rows)
        for part in _batches(list(sizes)):
            with self.meta.transaction(write=True) as conn:
                claimed = conn.execute(chunk_packs.update().where(chunk_packs.c.digest.in_(part), old, ~_has_chunks())
                                       .values(created_at=-start).returning(chunk_packs.c.digest)).scalars().all()
            self._drop(chunk_packs, chunk_packs.c.digest, claimed)
            for d in claimed:
                out.swept["packs"].add(sizes[d])

    # -- 4: manifests -----------------------------------------------------------------------------------
    def _sweep_manifests(self, out: Collection, states: set[str], cutoff: float, start: float) -> None:
        old = (chunked_states.c.created_at >= 0) & (chunked_states.c.created_at < cutoff)
        with self.meta.transaction() as conn:
            counts = {s: n for s, n in conn.execute(sa.select(chunked_states.c.id, chunked_states.c.chunk_count)
                                                    .where(old)) if s not in states}
        if out.dry_run:
            for n in counts.values():
                out.swept["manifests"].add(manifest_bytes(n))
            return
        named = sa.exists().where(snapshots.c.state == chunked_states.c.id, snapshots.c.pruned_at.is_(None))
        for part in _batches(list(counts)):
            with self.meta.transaction(write=True) as conn:
                claimed = conn.execute(chunked_states.update().where(chunked_states.c.id.in_(part), old, ~named)
                                       .values(created_at=-start).returning(chunked_states.c.id)).scalars().all()
            self._drop(chunked_states, chunked_states.c.id, claimed)
            for s in claimed:
                out.swept["manifests"].add(manifest_bytes(counts[s]))

    # -- 5: whole blobs of states saved before chunking ----------------------------------------------------
    def _sweep_whole(self, out: Collection, guarded: set[str], cutoff: float) -> None:
        with self.meta.transaction() as conn:
            newest = conn.execute(sa.select(snapshots.c.state, sa.func.max(snapshots.c.created_at))
                                  .where(snapshots.c.pruned_at.is_not(None)).group_by(snapshots.c.state)).all()
            candidates = [s for s, at in newest if at < cutoff and s not in guarded]
            named = _among(conn, chunked_states.c.id, candidates) | _among(conn, chunk_packs.c.digest, candidates)
        for state in (s for s in candidates if s not in named):
            if not self.blobs.exists(state):
                continue  # swept by an earlier collection
            if not out.dry_run:
                with self.meta.transaction() as conn:  # a snapshot kept since the mark names it: leave it
                    if conn.execute(sa.select(snapshots.c.id).where(snapshots.c.state == state,
                                                                    snapshots.c.pruned_at.is_(None))).first():
                        continue
                size = self.blobs.size(state)
                self.blobs.delete(state)
            else:
                size = self.blobs.size(state)
            out.swept["whole"].add(size)

    # -- what stays held in partly dead packs ---------------------------------------------------------
    def _held(self, out: Collection, dead: dict[str, list[tuple[str, int]]]) -> None:
        with self.meta.transaction() as conn:
            used = conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.size, sa.func.sum(chunks.c.length))
                                .join(chunks, chunks.c.pack == chunk_packs.c.digest)
                                .group_by(chunk_packs.c.digest, chunk_packs.c.size)).all()
        for digest, size, total in used:
            if out.dry_run:
                total -= sum(n for _, n in dead.get(digest, ()))
            if 0 < total < size:
                out.held_packs += 1
                out.held_bytes += size - total

    def _drop(self, table: sa.Table, key: sa.Column, claimed: Iterable[str]) -> None:
        """Delete the blobs of claimed rows (pack blobs: an inline pack and a manifest live in their rows), then the
        rows (a row stays if a crash comes between)."""
        claimed = list(claimed)
        for digest in claimed:
            if table is chunk_packs and len(digest) == 64:
                self.blobs.delete(digest)
        if table is chunk_packs:
            extra = [~_has_chunks()]
        else:
            extra = []
        for part in _batches(claimed):
            with self.meta.transaction(write=True) as conn:
                conn.execute(table.delete().where(key.in_(part), table.c.created_at < 0, *extra))


def _has_chunks() -> sa.Exists:
    return sa.exists().where(chunks.c.pack == chunk_packs.c.digest)


def _among(conn: Any, column: sa.Column, values: Iterable[str]) -> set[str]:
    """Those of ``values`` present in ``column``."""
    found: set[str] = set()
    for part in _batches(list(values)):
        found.update(conn.execute(sa.select(column).where(column.in_(part))).scalars())
    return found


def _batches(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]
