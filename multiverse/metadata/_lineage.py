"""Reading the snapshot graph in SQL: ids and prefixes, records with their parents, heads, a world's log and
merge bases. A mixin of ``SqlMetadata`` (which provides ``_transaction`` and ``_world``); the walks themselves
are pure (``walk``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from multiverse.errors import InvalidArgument, NotFound
from multiverse.metadata import _prepared, _rows, _worlds, walk
from multiverse.metadata.models import heads, snapshot_parents, snapshots, worlds
from multiverse.records import SnapshotRecord, WorldRecord

MIN_PREFIX = 8


class LineageReads:
    """Snapshot and head reads over the connection ``_transaction`` gives."""

    if TYPE_CHECKING:
        _transaction: Callable[..., AbstractContextManager[Connection]]

        def _world(self, conn: Connection, name: str) -> WorldRecord: ...

    def _generations(self, conn: Connection, ids: Sequence[str]) -> dict[str, int]:
        """Generation of each of ``ids``; NotFound naming the first that does not exist."""
        if not ids:
            return {}
        rows = conn.execute(_prepared.generations, {"p_ids": list(ids)})
        found = {sid: gen for sid, gen in rows}
        for sid in ids:
            if sid not in found:
                raise NotFound(
                    f"snapshot {sid} does not exist: save it before naming it as a parent", snapshot=sid
                )
        return found

    def get_snapshot(self, snapshot_id: str, *, reader: str | None = None) -> SnapshotRecord:
        with self._transaction() as conn:
            sid = self._resolve(conn, snapshot_id, reader=reader)
            return self._load(conn, [sid])[sid]

    def _resolve(self, conn: Connection, given: str, field: str = "snapshot_id", *, reader: str | None = None) -> str:
        """A full id or a unique prefix of at least 8 hex characters -> the full id; with ``reader``, only
        snapshots of worlds ``reader`` may read count (an ambiguous prefix names no other world's ids)."""
        prefix = given.strip().lower()
        if len(prefix) < MIN_PREFIX or len(prefix) > 64 or not _rows.HEX.fullmatch(prefix):
            raise InvalidArgument(
                field,
                given,
                f"give the 64-character hex id or a unique prefix of at least {MIN_PREFIX} of its characters",
            )
        # Ids are lowercase hex, so every id starting with `prefix` sorts in [prefix, prefix + "g").
        query = sa.select(snapshots.c.id).where(snapshots.c.id >= prefix, snapshots.c.id < prefix + "g")
        if reader is not None:
            query = query.where(snapshots.c.world.in_(sa.select(worlds.c.name).where(_worlds.readable(reader))))
        rows = conn.execute(query.order_by(snapshots.c.id).limit(2))
        found = [sid for (sid,) in rows if sid.startswith(prefix)]
        if not found:
            raise NotFound(f"no snapshot has the id {given!r}", snapshot=given)
        if len(found) > 1:
            raise InvalidArgument(
                field,
                given,
                "give more characters of the id",
                reason=f"prefix {prefix} is ambiguous: it matches {found[0]}, {found[1]} and maybe more",
            )
        return found[0]

    def _load(self, conn: Connection, ids: Iterable[str]) -> dict[str, SnapshotRecord]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        parents: dict[str, list[str]] = {sid: [] for sid in ids}
        edges = conn.execute(
            sa.select(snapshot_parents.c.child, snapshot_parents.c.parent)
            .where(snapshot_parents.c.child.in_(ids))
            .order_by(snapshot_parents.c.child, snapshot_parents.c.position)
        )
        for child, parent in edges:
            parents[child].append(parent)
        rows = conn.execute(sa.select(snapshots).where(snapshots.c.id.in_(ids))).mappings()
        return {r["id"]: _rows.snapshot_record(r, parents[r["id"]]) for r in rows}

    def _parents_of(self, conn: Connection, ids: list[str]) -> dict[str, list[walk.Node]]:
        """Parents of each of ``ids`` as (generation, id): the one query of the lineage walks."""
        out: dict[str, list[walk.Node]] = {}
        rows = conn.execute(
            sa.select(snapshot_parents.c.child, snapshots.c.generation, snapshots.c.id)
            .join(snapshots, snapshots.c.id == snapshot_parents.c.parent)
            .where(snapshot_parents.c.child.in_(ids))
        )
        for child, gen, sid in rows:
            out.setdefault(child, []).append((gen, sid))
        return out

    def get_head(self, world: str, head: str) -> str | None:
        with self._transaction() as conn:
            self._world(conn, world)
            return self._head(conn, world, head)

    def _head(self, conn: Connection, world: str, head: str) -> str | None:
        return conn.execute(_prepared.head_of, {"p_world": world, "p_head": head}).scalar()

    def heads(self, world: str) -> dict[str, str]:
        with self._transaction() as conn:
            self._world(conn, world)
            rows = conn.execute(
                sa.select(heads.c.name, heads.c.snapshot).where(heads.c.world == world).order_by(heads.c.name)
            )
            return {name: sid for name, sid in rows}

    def log(self, start: str, *, limit: int = 100, cursor: str = "") -> tuple[list[SnapshotRecord], str]:
        _rows.check_limit(limit)
        with self._transaction() as conn:
            if cursor:
                ids = _rows.decode_cursor(cursor, start)
                try:
                    gens = self._generations(conn, ids)
                except NotFound as exc:
                    raise InvalidArgument("cursor", cursor, "start again without a cursor") from exc
                frontier = [(gens[sid], sid) for sid in ids]
            else:
                sid = self._resolve(conn, start, "start")
                frontier = [(self._generations(conn, [sid])[sid], sid)]
            page, rest = walk.ancestors(frontier, lambda ask: self._parents_of(conn, ask), limit)
            records = self._load(conn, [sid for _, sid in page])
        next_cursor = _rows.encode_cursor(start, [sid for _, sid in rest]) if rest else ""
        return [records[sid] for _, sid in page], next_cursor

    def lowest_common_ancestors(self, a: str, b: str) -> list[str]:
        """The merge bases of snapshots ``a`` and ``b`` (ids or unique prefixes): common ancestors that are not
        ancestors of another common ancestor, newest generation first. A snapshot is its own ancestor, so if
        ``a`` is an ancestor of ``b`` the answer is ``[a]``; unrelated snapshots give ``[]``; criss-cross
        merges give more than one."""
        with self._transaction() as conn:
            ids = [self._resolve(conn, a, "a"), self._resolve(conn, b, "b")]
            gens = self._generations(conn, ids)
            return walk.merge_bases(
                (gens[ids[0]], ids[0]), (gens[ids[1]], ids[1]), lambda ask: self._parents_of(conn, ask)
            )

    def snapshots_with_state(self, state: str) -> list[SnapshotRecord]:
        """Every snapshot whose state blob is ``state``, oldest first (by created_at, then id)."""
        with self._transaction() as conn:
            ids = (
                conn.execute(
                    sa.select(snapshots.c.id)
                    .where(snapshots.c.state == state)
                    .order_by(snapshots.c.created_at, snapshots.c.id)
                )
                .scalars()
                .all()
            )
            records = self._load(conn, ids)
            return [records[sid] for sid in ids]
