"""The statements of a snapshot's commit, built once.

SQLAlchemy builds a statement object and its cache key anew for every ``select(...).where(...)`` written inline (about
80 us each, a dozen of them a save: ~1 ms inside the write lock every writer queues for); a statement built once with
``bindparam`` placeholders is compiled once and then costs only its execution. The dialect's own INSERT ... ON
CONFLICT statements are built per dialect by ``Prepared``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from multiverse.metadata.models import heads, idempotency_keys, snapshot_parents, snapshots, worlds

seen_key = sa.select(idempotency_keys.c.snapshot).where(
    idempotency_keys.c.principal == sa.bindparam("p_principal"),
    idempotency_keys.c.world == sa.bindparam("p_world"),
    idempotency_keys.c.key == sa.bindparam("p_key"),
)
world_deleted_at = sa.select(worlds.c.deleted_at).where(worlds.c.name == sa.bindparam("p_world"))
generations = sa.select(snapshots.c.id, snapshots.c.generation).where(
    snapshots.c.id.in_(sa.bindparam("p_ids", expanding=True)))
max_seq = sa.select(sa.func.coalesce(sa.func.max(snapshots.c.seq), 0))
seq_of = sa.select(snapshots.c.seq).where(snapshots.c.id == sa.bindparam("p_id"))
add_parents = snapshot_parents.insert()
move_head = (heads.update()
             .where(heads.c.world == sa.bindparam("p_world"), heads.c.name == sa.bindparam("p_head"),
                    heads.c.snapshot == sa.bindparam("p_expected"))
             .values(snapshot=sa.bindparam("p_new")))
head_of = sa.select(heads.c.snapshot).where(heads.c.world == sa.bindparam("p_world"),
                                            heads.c.name == sa.bindparam("p_head"))


class Prepared:
    """``insert_new(table)``: the dialect's ``INSERT ... ON CONFLICT DO NOTHING RETURNING <key>`` for ``table``, built
    once; executed with the row's values as parameters."""

    def __init__(self, insert: Callable[..., Any]) -> None:
        self._insert = insert
        self._new: dict[str, Any] = {}

    def insert_new(self, table: sa.Table) -> Any:
        stmt = self._new.get(table.name)
        if stmt is None:
            key = next(iter(table.primary_key.columns))
            stmt = self._new[table.name] = self._insert(table).on_conflict_do_nothing().returning(key)
        return stmt
