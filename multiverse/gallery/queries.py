"""The gallery's few reads that the store and market have no call for, as SQL over their tables: snapshots newest
first among the worlds a reader may read, a world's children, sales across tokens, tokens of given vectors. Each
is one bounded query (a LIMIT, or an IN over one page's ids) in one transaction of the metadata store."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa

from multiverse.market import tables as mt
from multiverse.metadata import _rows, _worlds
from multiverse.metadata.models import snapshot_parents, snapshots, worlds
from multiverse.metadata.sql import SqlMetadata
from multiverse.records import SnapshotRecord


def _records(conn: sa.Connection, rows: list[Any]) -> list[SnapshotRecord]:
    ids = [r["id"] for r in rows]
    parents: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        edges = conn.execute(sa.select(snapshot_parents.c.child, snapshot_parents.c.parent)
                             .where(snapshot_parents.c.child.in_(ids))
                             .order_by(snapshot_parents.c.child, snapshot_parents.c.position))
        for child, parent in edges:
            parents[child].append(parent)
    return [_rows.snapshot_record(r, parents[r["id"]]) for r in rows]


def recent_snapshots(meta: SqlMetadata, reader: str | None, *, space: str = "", world: str = "",
                     at_or_before: tuple[float, str] | None = None, limit: int = 32) -> list[SnapshotRecord]:
    """Snapshots of the worlds ``reader`` may read (of ``space``, of ``world``), newest first (ties by id, descending),
    from the position ``at_or_before`` = (created_at, id) on in that order (that snapshot included)."""
    s = snapshots.c
    q = (sa.select(snapshots).join(worlds, worlds.c.name == s.world).where(_worlds.readable(reader))
         .order_by(s.created_at.desc(), s.id.desc()).limit(limit))
    if space:
        q = q.where(worlds.c.space == space)
    if world:
        q = q.where(s.world == world)
    if at_or_before is not None:
        at, sid = at_or_before
        q = q.where(sa.or_(s.created_at < at, sa.and_(s.created_at == at, s.id <= sid)))
    with meta.transaction() as conn:
        return _records(conn, conn.execute(q).mappings().all())


def children_of(meta: SqlMetadata, world: str, reader: str | None, limit: int = 100) -> list[str]:
    """Names of the worlds ``reader`` may read that have a snapshot whose parent is a snapshot of ``world``."""
    child, parent = snapshots.alias("child"), snapshots.alias("parent")
    q = (sa.select(worlds.c.name).distinct()
         .join(child, child.c.world == worlds.c.name)
         .join(snapshot_parents, snapshot_parents.c.child == child.c.id)
         .join(parent, parent.c.id == snapshot_parents.c.parent)
         .where(parent.c.world == world, worlds.c.name != world, _worlds.readable(reader))
         .order_by(worlds.c.name).limit(limit))
    with meta.transaction() as conn:
        return list(conn.execute(q).scalars())


def sales(meta: SqlMetadata, chain_id: int, *, token_id: str = "", limit: int = 50) -> list[dict[str, Any]]:
    """Indexed ``Sold`` events, newest first: {block_number, tx_hash, token_id, listing_hash, args}."""
    c = mt.chain_events.c
    q = (sa.select(mt.chain_events).where(c.chain_id == chain_id, c.name == "Sold")
         .order_by(c.block_number.desc(), c.log_index.desc()).limit(limit))
    if token_id:
        q = q.where(c.token_id == token_id)
    with meta.transaction() as conn:
        rows = conn.execute(q).mappings().all()
    return [{"block_number": r["block_number"], "tx_hash": r["tx_hash"], "log_index": r["log_index"],
             "token_id": r["token_id"], "listing_hash": r["listing_hash"], "args": json.loads(r["args"])}
            for r in rows]


def tokens_of(meta: SqlMetadata, keys: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str, int], str]:
    """{(snapshot, kind, index): token id} of the claimed tokens among ``keys`` (one page's vectors)."""
    keys = set(keys)
    snaps: Collection[str] = {k[0] for k in keys}
    if not snaps:
        return {}
    t = mt.tokens.c
    q = sa.select(t.token_id, t.snapshot, t.kind, t.vector_index).where(t.snapshot.in_(snaps))
    with meta.transaction() as conn:
        rows = conn.execute(q).all()
    return {(s, k, i): tid for tid, s, k, i in rows if (s, k, i) in keys}
