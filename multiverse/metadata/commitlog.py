"""The commit sequence, and how far each space's persisted rarity index got along it.

Every snapshot committed (a save, a spawned world's first state) gets ``snapshots.seq`` = 1 + the largest so far,
inside the committing transaction and under the database's write lock, so that seq order is commit order: once
a reader has seen every snapshot up to n, no snapshot numbered n or less commits later. SQLite's write lock
(``BEGIN IMMEDIATE``) already serializes writers; on PostgreSQL ``next_seq`` takes a transaction-scoped advisory
lock first, held until commit, so the next committer reads the max only after this one is visible. A process
that follows the metadata (a rarity worker in another process) therefore polls ``commits_after(its seq)`` and
never misses one, where an in-process listener would hear only its own process's commits.

``rarity_indexes.seq`` says how far a space's persisted index got: every snapshot of the space with seq <= it is
in the manifest (a takeover catches up from there). ``point_rarity_index`` moves it, fenced by the writer's lease
when it gives one: a worker whose lease was taken (it stalled past the TTL) cannot point the space at its stale
index; the lease row is locked in the same transaction, so a taker waits for the pointer or finds it moved.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from multiverse.errors import InvalidArgument
from multiverse.metadata import _rows
from multiverse.metadata._prepared import max_seq
from multiverse.metadata.leases import Lease, fence
from multiverse.metadata.models import rarity_indexes, snapshots, worlds
from multiverse.records import SnapshotRecord, SpaceRecord

COMMIT_LOCK_KEY = 0x6D76_7365_7100  # PostgreSQL advisory lock id ("mvseq"): held by a committer from its seq on


@dataclass(frozen=True)
class IndexPointer:
    """Where a space's persisted rarity index is: its manifest and the commit seq it covers."""

    space: str
    manifest: str
    seq: int
    updated_at: float


def next_seq(conn: Connection) -> int:
    """The seq for a snapshot committed in ``conn``'s transaction (a write transaction: see the module docstring)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": COMMIT_LOCK_KEY})
    return int(conn.execute(max_seq).scalar_one()) + 1


class CommitLog:
    """Reads of the commit order and the rarity pointers; mixed into ``SqlMetadata``."""

    if TYPE_CHECKING:
        _transaction: Callable[..., AbstractContextManager[Connection]]
        _insert: Callable[..., Any]

        def _load(self, conn: Connection, ids: Any) -> dict[str, SnapshotRecord]: ...

        def _space(self, conn: Connection, name: str) -> SpaceRecord: ...

    def commits_after(self, seq: int, limit: int = 1000, space: str | None = None) -> list[SnapshotRecord]:
        """The snapshots committed after ``seq`` (of worlds of ``space``, or of any), in commit order, at most
        ``limit``; each with ``.seq`` set. Polling it from the last seq seen misses none (module docstring)."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidArgument("seq", seq, "give the last commit seq seen: an integer >= 0 (0 for the start)")
        _rows.check_limit(limit)
        query = sa.select(snapshots.c.id).where(snapshots.c.seq > seq)
        if space is not None:
            query = query.join(worlds, worlds.c.name == snapshots.c.world).where(worlds.c.space == space)
        with self._transaction() as conn:
            ids = conn.execute(query.order_by(snapshots.c.seq).limit(limit)).scalars().all()
            records = self._load(conn, ids)
        return [records[sid] for sid in ids]

    def count_after(self, seq: int, space: str) -> int:
        """How many snapshots of worlds of ``space`` committed after ``seq``."""
        query = (sa.select(sa.func.count()).select_from(snapshots.join(worlds, worlds.c.name == snapshots.c.world))
                 .where(snapshots.c.seq > seq, worlds.c.space == space))
        with self._transaction() as conn:
            return int(conn.execute(query).scalar_one())

    def last_seq(self) -> int:
        """The seq of the newest commit (0: none yet)."""
        with self._transaction() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(snapshots.c.seq), 0))).scalar_one())

    # rarity index pointers

    def rarity_manifests(self) -> dict[str, str]:
        """{space: digest of its persisted rarity index's manifest} for every space that has one."""
        return {space: p.manifest for space, p in self.rarity_pointers().items()}

    def rarity_pointers(self) -> dict[str, IndexPointer]:
        """{space: its persisted rarity index (manifest, the seq it covers)} for every space that has one."""
        with self._transaction() as conn:
            rows = conn.execute(sa.select(rarity_indexes)).mappings().all()
        return {r["space"]: IndexPointer(r["space"], r["manifest"], int(r["seq"]), r["updated_at"]) for r in rows}

    def point_rarity_index(self, space: str, manifest: str, now: float, *, seq: int | None = None,
                           lease: Lease | None = None) -> str | None:
        """Point ``space``'s rarity index at ``manifest`` (covering commits up to ``seq``; None keeps the seq it
        had, 0 for a new pointer); returns the manifest it pointed at before (None if none). With ``lease``,
        only while that lease is still the writer's (same holder and token), checked in this transaction:
        LeaseLost otherwise, and nothing moves. The row is locked while it moves, so of two writers each sees
        the other's pointer as "before"."""
        _rows.need_name("space", space)
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
            raise InvalidArgument("seq", seq, "give the commit seq the index covers: an integer >= 0")
        with self._transaction(write=True) as conn:
            self._space(conn, space)  # NotFound for a space that is not registered
            if lease is not None:
                fence(conn, lease, f"the pointer of the rarity index of {space!r} at {manifest[:12]}")
            before = conn.execute(
                sa.select(rarity_indexes.c.manifest).where(rarity_indexes.c.space == space).with_for_update()
            ).scalar_one_or_none()
            values: dict[str, Any] = {"manifest": manifest, "updated_at": now}
            if seq is not None:
                values["seq"] = seq
            stmt = self._insert(rarity_indexes).values(space=space, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=[rarity_indexes.c.space], set_=values))
            return before
