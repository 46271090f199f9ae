"""Worlds' visibility in SQL: the share lists (``world_readers``) and ``multiverse.store.auth.can_read`` as a filter.

A world is readable by ``reader`` (a principal's name) when it is ``reader``'s own, public, or shared with
``reader`` by name; ``reader=None`` stands for an admin, who reads every world, and ``""`` for a caller that only
public worlds are open to (``auth.reader_name``). tests/security/test_visibility.py checks that this filter and
``can_read`` agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from multiverse.errors import AlreadyExists, InvalidArgument, NotFound
from multiverse.metadata.models import world_readers, worlds
from multiverse.records import PUBLIC, SHARED, VISIBILITIES, WorldRecord


def normalized(world: WorldRecord) -> WorldRecord:
    """``world`` as it comes back from the store: readers sorted, each once. InvalidArgument for a visibility
    that is not one of ``VISIBILITIES``, or readers on a world that is not shared."""
    if world.visibility not in VISIBILITIES:
        raise InvalidArgument("world.visibility", world.visibility, f"use one of {', '.join(VISIBILITIES)}")
    readers = tuple(sorted(set(world.readers)))
    if readers and world.visibility != SHARED:
        raise InvalidArgument("world.readers", list(readers), f"name readers only for a {SHARED!r} world")
    if any(not r for r in readers):
        raise InvalidArgument("world.readers", list(readers), "name each reader by a non-empty principal name")
    return world if readers == world.readers else replace(world, readers=readers)


def readable(reader: str | None) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``worlds``: the worlds ``reader`` may read (see the module docstring)."""
    if reader is None:
        return sa.true()
    shared_with = sa.select(world_readers.c.world).where(world_readers.c.principal == reader)
    return sa.or_(
        worlds.c.owner == reader,
        worlds.c.visibility == PUBLIC,
        sa.and_(worlds.c.visibility == SHARED, worlds.c.name.in_(shared_with)),
    )


def readers_of(conn: Connection, names: Iterable[str]) -> Mapping[str, tuple[str, ...]]:
    """{world: its readers, sorted} for those of ``names`` that have any."""
    names = list(names)
    if not names:
        return {}
    out: dict[str, list[str]] = {}
    rows = conn.execute(
        sa.select(world_readers.c.world, world_readers.c.principal)
        .where(world_readers.c.world.in_(names))
        .order_by(world_readers.c.world, world_readers.c.principal)
    )
    for world, principal in rows:
        out.setdefault(world, []).append(principal)
    return {world: tuple(readers) for world, readers in out.items()}


def put_readers(conn: Connection, world: str, readers: Iterable[str]) -> None:
    """Replace ``world``'s share list with ``readers``."""
    conn.execute(world_readers.delete().where(world_readers.c.world == world))
    rows = [{"world": world, "principal": r} for r in readers]
    if rows:
        conn.execute(world_readers.insert(), rows)


def readable_names(conn: Connection, reader: str | None) -> frozenset[str]:
    """The names of every world ``reader`` may read (deleted worlds are no one's)."""
    return frozenset(conn.execute(sa.select(worlds.c.name).where(readable(reader), living())).scalars())


def living() -> sa.ColumnElement[bool]:
    """A WHERE clause on ``worlds``: not deleted (an admin's ``multiverse world delete``, multiverse/store/prune.py)."""
    return worlds.c.deleted_at.is_(None)


def gone(name: str, deleted_at: float) -> NotFound:
    when = datetime.fromtimestamp(deleted_at, UTC).isoformat(timespec="seconds")
    return NotFound(f"world {name!r} was deleted at {when}: its heads are gone and its states are no longer kept "
                    "(its snapshots' records stay in the lineage)", world=name)


def not_deleted(world: WorldRecord) -> None:
    """AlreadyExists if ``world`` (found under a name being created) was deleted: names are not reused."""
    if world.deleted_at is not None:
        when = datetime.fromtimestamp(world.deleted_at, UTC).isoformat(timespec="seconds")
        raise AlreadyExists(f"world name {world.name!r} belonged to a world deleted at {when}, whose records stay in "
                            "the lineage: pick another name", world=world.name)
