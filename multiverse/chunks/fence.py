"""The save's half of the collector's protocol: recording a manifest restarts its grace window, and refuses one
that a collection is removing; the chunks a save counts on are touched and re-counted in its commit.

Manifests are named by the SHA-256 of their bytes, so a save may record again the very manifest that nothing
references any more (a deleted world's game replayed, a state saved again after its snapshots were pruned). (Pack
blobs open with random bytes, so no save ever puts another's: multiverse/chunks/store.py.) The collector
(multiverse/chunks/gc.py) removes one in steps: it *claims* the row (``created_at`` set to minus the claim's time,
only while it is older than the grace window and unreferenced), then deletes it. A save records its manifest by an
upsert that sets ``created_at`` to now unless the row is claimed:

- recorded before the claim: the row is young, so the claim fails and the manifest stays;
- claimed first: the upsert finds the claim and the save fails with Unavailable (nothing half-written is
  visible: the snapshot is not committed); a retry after the collection ends stores the bytes anew.

A claim a crashed collector left behind is finished by the next collection (``gc.Collector`` starts there).

The chunks a save counts on are touched and re-counted in its commit (``hold``), but for those it inherits from its
parent when the commit moves a head from that parent (compare-and-swap): they are held already. Proof, for a
collection that marks at time M (its cutoff is at most M - grace, grace >= 2 x slack): a head only ever moves to a
snapshot of a higher generation (a save's record is its parent's generation + 1), so a head never returns to a
snapshot it left, and the parent, a head when the commit runs, was the head ever since its own commit. Follow the
save's ancestors back to the one that was the head at M (or to the world's first save, which inherits nothing). A
chunk of the save was either inherited all the way from that ancestor, which the collection marked live and does
not delete, or counted on without being inherited by a commit after M, which inserted or touched it (``touched_at``
>= that commit - slack > the cutoff), and the collection's DELETE re-checks ``touched_at``. So nothing the save inherits is ever swept under it, and a
commit counts only the chunks its parent lacks: a sliding window's few, not its 500 (0.9 ms of the write lock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from multiverse.chunks.keys import among, bound
from multiverse.errors import FailedPrecondition, Unavailable
from multiverse.metadata.models import chunked_states, chunks


def record_state(conn: Connection, insert: Callable[..., Any], state: str, size: int, count: int, manifest: bytes,
                 now: float) -> None:
    """Record chunked state ``state`` with its manifest's bytes, or restart its grace window."""
    dialect = conn.dialect.name
    stmt = _RECORD.get(dialect)
    if stmt is None:  # built once per dialect: a statement built per save costs more than it runs
        new = insert(chunked_states)
        stmt = _RECORD[dialect] = (new.on_conflict_do_update(index_elements=[chunked_states.c.id],
                                                             set_={"created_at": new.excluded.created_at},
                                                             where=chunked_states.c.created_at >= 0)
                                   .returning(chunked_states.c.id))
    values = dict(id=state, size=size, chunk_count=count, manifest=manifest, created_at=now)
    if conn.execute(stmt, values).first() is None:
        raise Unavailable(f"a garbage collection is removing a state manifest with these very bytes ({state}); nothing "
                          "was saved: retry the save once the collection ends (or run `multiverse gc` to finish a "
                          "collection that was interrupted)", digest=state)


_RECORD: dict[str, Any] = {}  # per dialect: record_state's upsert
_HOLD: dict[str, tuple[Any, Any]] = {}  # per dialect: (touch, count and stale count), the list bound as one parameter


def hold(conn: Connection, present: Sequence[str], now: float, slack: float) -> None:
    """In the transaction that records a save's chunk rows and manifest: restart the grace window of the stored
    chunks it counts on (touched unless touched within ``slack``), and check those are all still there
    (FailedPrecondition otherwise): a save slower than the grace window then fails cleanly instead of recording a
    state whose bytes were swept under it."""
    unique = list(dict.fromkeys(present))
    found, dialect = 0, conn.dialect.name
    if unique and dialect not in _HOLD:
        where = among(chunks.c.address, dialect, "part")
        stale = chunks.c.touched_at < sa.bindparam("before")
        _HOLD[dialect] = (chunks.update().where(where, stale).values(touched_at=sa.bindparam("now")),
                          sa.select(sa.func.count(), sa.func.count(sa.case((stale, 1)))).where(where))
    for i in range(0, len(unique), 1 << 16):
        touch, count = _HOLD[dialect]
        part = bound(unique[i : i + (1 << 16)], dialect)
        there, stale = conn.execute(count, {"part": part, "before": now - slack}).one()
        if stale:  # touched, then counted again: on PostgreSQL a collection may delete an untouched row meanwhile
            conn.execute(touch, {"part": part, "now": now, "before": now - slack})
            there = conn.execute(count, {"part": part, "before": now - slack}).one()[0]
        # all touched within ``slack``: none is a collection's candidate (the grace window is at least twice the slack,
        # and its DELETE re-checks touched_at), so the count stands: one scan of the list, not two
        found += there
    if found != len(unique):
        raise FailedPrecondition(f"{len(unique) - found} chunks this save counted on were collected while it ran "
                                 "longer than the grace window; nothing was saved: ask which chunks are missing again "
                                 "and send them")
