"""Housekeeping, admin only: delete a world, prune snapshots older than a date, collect what nothing keeps.

Records are never deleted: a pruned snapshot keeps its record (log, lineage and merge bases walk it as before) and
loses its state, whose load is then FailedPrecondition; a deleted world is hidden (NotFound), its heads are gone,
its name stays taken and its snapshots are pruned. Neither prunes what must stay (multiverse/chunks/keep.py): a
head, a token's snapshot (its vector stays downloadable forever), the inputs of a kept cross. Bytes go only when
the collector runs (multiverse/chunks/gc.py), after its grace window.

Both marks run in one write transaction that, on PostgreSQL, also holds the commit lock (commitlog.next_seq), so a
save or a spawned world commits wholly before or wholly after them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from multiverse.chunks import keep
from multiverse.chunks.gc import DEFAULT_GRACE_S, Collection, Collector
from multiverse.chunks.store import ChunkStore
from multiverse.errors import InvalidArgument
from multiverse.metadata.commitlog import COMMIT_LOCK_KEY
from multiverse.metadata.models import heads, snapshots, worlds
from multiverse.state.spaces import check_name
from multiverse.store.auth import Principal
from multiverse.store.store import require_admin


@dataclass(frozen=True)
class Pruned:
    """What a prune or a world's deletion marked: ``pruned`` snapshots, ``kept`` ones it had to leave (heads,
    tokens' snapshots, inputs of kept crosses), ``heads`` dropped (a deleted world's)."""

    pruned: int
    kept: int
    heads: int = 0


class Housekeeping:
    def __init__(self, meta: Any, chunks: ChunkStore, blobs: Any, clock: Callable[[], float] = time.time) -> None:
        """``blobs``: the raw blob store (packs, manifests and whole states live there)."""
        self.meta, self.clock = meta, clock
        self.collector = Collector(meta, chunks, blobs, clock)

    @classmethod
    def over(cls, meta: Any, blobs: Any, clock: Callable[[], float] = time.time) -> Housekeeping:
        """Over an App's blob store: a StateBlobs (its chunk store and the store it wraps) or a plain one."""
        chunks = getattr(blobs, "chunks", None)
        raw = getattr(blobs, "inner", blobs)
        return cls(meta, chunks if isinstance(chunks, ChunkStore) else ChunkStore(meta, raw), raw, clock)

    def delete_world(self, who: Principal, name: str) -> Pruned:
        """Hide world ``name`` for good, drop its heads and prune its snapshots but what must stay."""
        require_admin(who, "delete a world")
        check_name("world", name)
        self.meta.get_world(name)  # NotFound (also for one deleted already)
        now = self.clock()
        with self.meta.transaction(write=True) as conn:
            _hold_commits(conn)
            if conn.execute(worlds.update().where(worlds.c.name == name, worlds.c.deleted_at.is_(None))
                            .values(deleted_at=now)).rowcount != 1:
                self.meta.get_world(name)  # deleted meanwhile: its NotFound
            dropped = conn.execute(heads.delete().where(heads.c.world == name)).rowcount
            pruned, kept = _mark(conn, snapshots.c.world == name, now)
        return Pruned(pruned, kept, dropped)

    def prune(self, who: Principal, before: float, world: str = "", *, dry_run: bool = False) -> Pruned:
        """Prune the snapshots created before ``before`` (seconds since the epoch), of ``world`` or of all;
        ``dry_run``: count what would be pruned and kept, change nothing."""
        require_admin(who, "prune snapshots")
        if not isinstance(before, int | float) or not math.isfinite(before) or before <= 0:
            raise InvalidArgument("before", before, "give a date: seconds since the epoch, or an ISO date on the CLI")
        if before > self.clock():
            raise InvalidArgument("before", before, "give a date in the past: a prune never reaches saves to come")
        where = snapshots.c.created_at < before
        if world:
            check_name("world", world)
            self.meta.get_world(world, deleted=True)
            where = where & (snapshots.c.world == world)
        with self.meta.transaction(write=not dry_run) as conn:
            if not dry_run:
                _hold_commits(conn)
            pruned, kept = _mark(conn, where, self.clock(), dry_run=dry_run)
        return Pruned(pruned, kept)

    def collect(self, who: Principal, grace_s: float = DEFAULT_GRACE_S, *, dry_run: bool = False) -> Collection:
        """Sweep what nothing keeps and is older than ``grace_s`` (multiverse/chunks/gc.py); ``dry_run``: count
        what would go, change nothing."""
        require_admin(who, "collect garbage")
        return self.collector.collect(grace_s, dry_run=dry_run)


def _hold_commits(conn: Connection) -> None:
    """Serialize with commits (SQLite's write transaction already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": COMMIT_LOCK_KEY})


def _mark(conn: Connection, where: sa.ColumnElement[bool], now: float, *, dry_run: bool = False) -> tuple[int, int]:
    """Set ``pruned_at`` on the unpruned snapshots ``where`` selects, but those that must stay; (pruned, kept).
    ``dry_run``: only count them."""
    leaving = set(conn.execute(sa.select(snapshots.c.id).where(where, snapshots.c.pruned_at.is_(None))).scalars())
    stay = keep.protected(conn, leaving)
    gone = sorted(leaving - stay)
    if dry_run:
        return len(gone), len(stay)
    for i in range(0, len(gone), keep.BATCH):
        conn.execute(snapshots.update().where(snapshots.c.id.in_(gone[i : i + keep.BATCH])).values(pruned_at=now))
    return len(gone), len(stay)
