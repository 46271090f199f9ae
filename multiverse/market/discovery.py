"""Who discovered a vector: the earliest committed snapshot that holds its bytes.

Each commit records the vectors its state holds (by the sha256 of their canonical bytes, the token id) in
``vector_discoveries``, insert-if-absent in the commit's own transaction, so the first commit of a vector keeps it
(multiverse/metadata/_discoveries.py). Snapshots committed before that table existed, or by a path that gave no
vectors, wait in ``vector_backlog``: ``catch_up`` hashes them from their blobs, oldest first (created_at, then
id), and ranks them before every snapshot recorded at its commit, which all came later. ``first_holder`` catches
up first, so no claim is decided on a partial record.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from multiverse.blobs.base import BlobStore
from multiverse.metadata.models import vector_backlog, vector_discoveries
from multiverse.metadata.sql import SqlMetadata
from multiverse.state.vectors import state_vectors

BATCH = 16  # backlog snapshots listed per query


class Holder(NamedTuple):
    """Row ``index`` of kind ``kind`` of ``snapshot``: the earliest committed holder of a vector."""

    snapshot: str
    kind: str
    index: int


class Discoveries:
    def __init__(self, meta: SqlMetadata, blobs: BlobStore) -> None:
        self.meta, self.blobs = meta, blobs

    def first_holder(self, token_id: str) -> Holder | None:
        """The earliest committed holder of the vector whose canonical bytes hash to ``token_id`` (None: none)."""
        self.catch_up()
        d = vector_discoveries.c
        with self.meta.transaction() as conn:
            row = conn.execute(sa.select(d.snapshot, d.kind, d.vector_index).where(d.vector == token_id)).first()
        return None if row is None else Holder(row[0], row[1], int(row[2]))

    def catch_up(self) -> int:
        """Record the vectors of every snapshot in the backlog, oldest first; returns how many snapshots."""
        done = 0
        while pending := self._pending():
            for snapshot, created_at in pending:
                self._record(snapshot, created_at)
                done += 1
        return done

    def _pending(self) -> list[tuple[str, float]]:
        b = vector_backlog.c
        with self.meta.transaction() as conn:
            q = sa.select(b.snapshot, b.created_at).order_by(b.created_at, b.snapshot).limit(BATCH)
            return [(r[0], float(r[1])) for r in conn.execute(q)]

    def _record(self, snapshot: str, created_at: float) -> None:
        """Hash one backlog snapshot's state and keep it as each of its vectors' holder where it is earlier: than
        any snapshot recorded at its commit (legacy_at null), or than a backlog one (by created_at, then id)."""
        held = state_vectors(self.blobs.read(self.meta.get_snapshot(snapshot).state))
        rows = [
            {"vector": v, "snapshot": snapshot, "kind": k, "vector_index": i, "legacy_at": created_at}
            for v, k, i in held
        ]
        d = vector_discoveries
        stmt = self.meta.insert(d)
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["vector"],
            set_={"snapshot": new.snapshot, "kind": new.kind, "vector_index": new.vector_index, "legacy_at": new.legacy_at},
            where=sa.or_(
                d.c.legacy_at.is_(None),
                d.c.legacy_at > new.legacy_at,
                sa.and_(d.c.legacy_at == new.legacy_at, d.c.snapshot > new.snapshot),
            ),
        )
        with self.meta.transaction(write=True) as conn:
            for s in range(0, len(rows), 2000):
                conn.execute(stmt, rows[s : s + 2000])
            conn.execute(vector_backlog.delete().where(vector_backlog.c.snapshot == snapshot))
