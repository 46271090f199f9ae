"""Recording which vectors a committed snapshot holds, inside the commit's transaction (``vector_discoveries``).

Each distinct vector (by the sha256 of its canonical bytes, multiverse.state.vectors) keeps the first snapshot that
held it: an insert-if-absent on its key, in the transaction that commits the snapshot. Commits serialise on that
key (SQLite's writers queue; PostgreSQL makes a second inserter of the key wait for the first to commit or roll
back), so the first commit wins, exactly. A commit that gives no vectors puts its snapshot in ``vector_backlog``
instead, to be hashed from its blob before a discovery is looked up (multiverse/market/discovery.py).

A row, once committed, stays (the backlog may give it an earlier holder, never remove it), so ``Recorded`` leaves
out of the insert the vectors whose row a commit of this process made or met: a sliding window's saves insert
their few new frames, not all 512 again, inside the write lock every writer queues for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from multiverse.kept import Kept
from multiverse.metadata.models import vector_backlog
from multiverse.records import SnapshotRecord

BATCH = 2000  # rows per INSERT: a 64 MB state of 18 KB frames holds about 3,600
RECORDED_KEPT = 1 << 17  # vectors (about 20 MB): the windows of a few hundred game servers


class Recorded:
    """The vectors whose discovery row committed, the RECORDED_KEPT met last: ``record`` leaves them out."""

    def __init__(self, size: int = RECORDED_KEPT) -> None:
        self._seen: Kept[str, bool] = Kept(size)

    def record(self, conn: Connection, insert: Callable[[Any], Any], snapshot: SnapshotRecord,
               vectors: Sequence[tuple[str, str, int]] | None) -> None:
        """``record``, less the vectors whose row is known to be committed."""
        if vectors is not None:
            seen = self._seen.of(v for v, _, _ in vectors)
            vectors = [v for v in vectors if v[0] not in seen]
        record(conn, insert, snapshot, vectors)

    def committed(self, vectors: Sequence[tuple[str, str, int]] | None) -> None:
        """The transaction that recorded ``vectors`` committed: each has its row."""
        self._seen.put_all((v, True) for v, _, _ in vectors or ())


def record(conn: Connection, insert: Callable[[Any], Any], snapshot: SnapshotRecord,
           vectors: Sequence[tuple[str, str, int]] | None) -> None:
    """Record ``vectors`` ((sha256, kind, index) each, distinct) as held by ``snapshot`` where no earlier commit
    holds them; None: queue ``snapshot`` in the backlog."""
    if vectors is None:
        conn.execute(insert(vector_backlog).values(snapshot=snapshot.id, created_at=snapshot.created_at)
                     .on_conflict_do_nothing())
        return
    # the driver's own executemany: SQLAlchemy's per-row parameter processing cost more than the inserts (a 512-frame
    # window: 6 ms against 1)
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = (f"INSERT INTO vector_discoveries (vector, snapshot, kind, vector_index, legacy_at) "
           f"VALUES ({mark}, {mark}, {mark}, {mark}, NULL) ON CONFLICT (vector) DO NOTHING")
    rows = [(v, snapshot.id, k, i) for v, k, i in vectors]
    for s in range(0, len(rows), BATCH):
        conn.exec_driver_sql(sql, rows[s:s + BATCH])
