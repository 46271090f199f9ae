"""``SqlMetadata``: the metadata port on SQLite (embedded default) or PostgreSQL (scaled out), one code path.

Every public method is one transaction on a pooled connection (``_transaction``); SQLAlchemy's
connection-level errors are mapped to ``Unavailable`` there, once. The two databases differ only in
``_engine.make_engine``: SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for writes (so
two writers queue instead of failing half-way); PostgreSQL gets psycopg 3 and a connection pool, and runs at
READ COMMITTED, where the head's compare-and-swap (``UPDATE ... WHERE snapshot = expected``) re-checks
its condition on the row a concurrent writer just committed. No update is ever lost on either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from multiverse.errors import AlreadyExists, HeadMoved, InvalidArgument, NotFound, Unavailable
from multiverse.metadata import _discoveries, _prepared, _rows, _worlds
from multiverse.metadata._engine import WRITE_OPTION, unavailable, where
from multiverse.metadata._lineage import LineageReads
from multiverse.metadata.commitlog import CommitLog, next_seq
from multiverse.metadata.events import Commits
from multiverse.metadata.models import (
    api_keys,
    heads,
    idempotency_keys,
    snapshots,
    spaces,
    worlds,
)
from multiverse.records import (
    DEFAULT_HEAD,
    ROLE_ADMIN,
    ROLE_SERVER,
    ApiKeyRecord,
    SnapshotRecord,
    SpaceRecord,
    WorldRecord,
)

class SqlMetadata(LineageReads, CommitLog):
    """The ``Metadata`` port over SQLAlchemy Core. Build it with ``open_metadata(url)``, which migrates."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        shared = isinstance(engine.pool, StaticPool)
        self._serial = threading.RLock() if shared else nullcontext()
        self._prepared = _prepared.Prepared(self._insert)
        self.commits = Commits()  # fired after each snapshot newly committed (multiverse/metadata/events.py)
        self.discoveries = _discoveries.Recorded()  # the vectors whose discovery row committed: not inserted again

    @property
    def engine(self) -> Engine:
        return self._engine

    def __repr__(self) -> str:
        return f"SqlMetadata({where(self._engine)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    @property
    def insert(self) -> Callable[..., Any]:
        """The dialect's INSERT that takes ON CONFLICT (for adapters sharing this database, e.g. the market's)."""
        return self._insert

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Connection]:
        """One transaction on this database (see ``_transaction``), for adapters sharing it."""
        return self._transaction(write=write)

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction; commits on success, rolls back on any error; connection errors -> Unavailable."""
        try:
            with self._serial, self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            raise unavailable(self._engine, exc) from exc

    def _insert_new(self, conn: Connection, table: sa.Table, **values: Any) -> bool:
        """INSERT unless the primary key is taken (waiting for a concurrent inserter). True if inserted."""
        return conn.execute(self._prepared.insert_new(table), values).first() is not None

    # spaces

    def put_space(self, space: SpaceRecord) -> SpaceRecord:
        _rows.need_name("space.name", space.name)
        row = _rows.space_row(space)
        given = _rows.space_record(row)  # as it will come back: frame_shape a tuple of ints
        with self._transaction(write=True) as conn:
            if not self._insert_new(conn, spaces, **row):
                stored = self._space(conn, space.name)
                if replace(stored, created_at=0.0) != replace(given, created_at=0.0):
                    raise AlreadyExists(
                        f"latent space {space.name!r} is already registered with different settings "
                        f"({_rows.diff(stored, space)}); pick another name or register the same settings",
                        space=space.name,
                    )
                return stored
        return given

    def get_space(self, name: str) -> SpaceRecord:
        with self._transaction() as conn:
            return self._space(conn, name)

    def list_spaces(self) -> list[SpaceRecord]:
        with self._transaction() as conn:
            rows = conn.execute(sa.select(spaces).order_by(spaces.c.name)).mappings()
            return [_rows.space_record(r) for r in rows]

    def _space(self, conn: Connection, name: str) -> SpaceRecord:
        row = conn.execute(sa.select(spaces).where(spaces.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"latent space {name!r} does not exist: register it first", space=name)
        return _rows.space_record(row)

    # worlds

    def create_world(self, world: WorldRecord) -> WorldRecord:
        with self._transaction(write=True) as conn:
            stored, _ = self._create_world(conn, world)
            return stored

    def _create_world(self, conn: Connection, world: WorldRecord) -> tuple[WorldRecord, bool]:
        """Insert ``world``; (stored, False) if an equal one (ignoring created_at) exists, else AlreadyExists."""
        _rows.need_name("world.name", world.name)
        world = _worlds.normalized(world)
        row = _rows.world_row(world)
        given = _rows.world_record(row, world.readers)
        self._space(conn, world.space)
        if self._insert_new(conn, worlds, **row):
            _worlds.put_readers(conn, world.name, world.readers)
            return given, True
        stored = self._world(conn, world.name, deleted=True)
        _worlds.not_deleted(stored)  # a deleted world's name stays taken: its records stay in the lineage
        if replace(stored, created_at=0.0) != replace(given, created_at=0.0):
            raise AlreadyExists(
                f"world {world.name!r} already exists with different settings ({_rows.diff(stored, world)}); "
                "pick another name",
                world=world.name,
            )
        return stored, False

    def get_world(self, name: str, *, deleted: bool = False) -> WorldRecord:
        """World ``name``; NotFound for a deleted one unless ``deleted`` (the domain following a record's world)."""
        with self._transaction() as conn:
            return self._world(conn, name, deleted=deleted)

    def list_worlds(
        self,
        *,
        space: str | None = None,
        owner: str | None = None,
        after: str = "",
        limit: int = 100,
        reader: str | None = None,
    ) -> list[WorldRecord]:
        _rows.check_limit(limit)
        query = sa.select(worlds).where(worlds.c.name > after, _worlds.readable(reader), _worlds.living())
        query = query.order_by(worlds.c.name).limit(limit)
        if space is not None:
            query = query.where(worlds.c.space == space)
        if owner is not None:
            query = query.where(worlds.c.owner == owner)
        with self._transaction() as conn:
            rows = conn.execute(query).mappings().all()
            readers = _worlds.readers_of(conn, [r["name"] for r in rows])
            return [_rows.world_record(r, readers.get(r["name"], ())) for r in rows]

    def set_world_visibility(self, name: str, visibility: str, readers: Sequence[str] = ()) -> WorldRecord:
        """Set who may read world ``name`` (its share list replaced by ``readers``); returns the world."""
        with self._transaction(write=True) as conn:
            world = _worlds.normalized(replace(self._world(conn, name), visibility=visibility, readers=tuple(readers)))
            conn.execute(worlds.update().where(worlds.c.name == name).values(visibility=world.visibility))
            _worlds.put_readers(conn, name, world.readers)
            return world

    def readable_worlds(self, reader: str | None) -> frozenset[str]:
        """The names of every world ``reader`` may read (metadata/_worlds.py: None is an admin)."""
        with self._transaction() as conn:
            return _worlds.readable_names(conn, reader)

    def _world(self, conn: Connection, name: str, *, deleted: bool = False) -> WorldRecord:
        row = conn.execute(sa.select(worlds).where(worlds.c.name == name)).mappings().first()
        _living(name, row, deleted)
        return _rows.world_record(row, _worlds.readers_of(conn, [name]).get(name, ()))

    # snapshots and heads

    def commit_snapshot(
        self,
        record: SnapshotRecord,
        *,
        head: str,
        expected: str | None,
        idempotency_key: str = "",
        principal: str = "",
        vectors: Sequence[tuple[str, str, int]] | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> tuple[SnapshotRecord, bool]:
        """``also(conn)``: more writes that must commit with the record or not at all (a chunked state's chunk rows and
        manifest, multiverse/chunks/store.py), run in the transaction unless an idempotency key replays."""
        _rows.check_record(record)
        _rows.need_name("head", head)
        for _ in range(3):
            try:
                with self.commits.order:
                    with self._transaction(write=True) as conn:
                        saved, created = self._commit(conn, record, head, expected, idempotency_key, principal, vectors,
                                                      also)
                    if created:
                        self.discoveries.committed(vectors)
                        self.commits.fire(saved)
                    return saved, created
            except _KeyTaken:
                continue  # a concurrent save with the same key won: the next round replays it
        raise Unavailable(f"idempotency key {idempotency_key!r} kept changing hands; retry the save")

    def _commit(
        self,
        conn: Connection,
        record: SnapshotRecord,
        head: str,
        expected: str | None,
        key: str,
        principal: str,
        vectors: Sequence[tuple[str, str, int]] | None,
        also: Callable[[Any], None] | None = None,
    ) -> tuple[SnapshotRecord, bool]:
        if key:
            seen = conn.execute(_prepared.seen_key,
                                dict(p_principal=principal, p_world=record.world, p_key=key)).scalar()
            if seen is not None:
                return self._load(conn, [seen])[seen], False
        _living(record.world, conn.execute(_prepared.world_deleted_at, {"p_world": record.world})
                .mappings().first())  # the world, read in the commit: one deleted since the save began refuses it
        if also is not None:
            also(conn)
        record = self._insert_snapshot(conn, record)
        self._move_head(conn, record.world, head, expected, record.id)
        self.discoveries.record(conn, self._insert, record, vectors)
        if key and not self._insert_new(
            conn,
            idempotency_keys,
            principal=principal,
            world=record.world,
            key=key,
            snapshot=record.id,
            created_at=time.time(),
        ):
            raise _KeyTaken
        return record, True

    def spawn_world(
        self,
        world: WorldRecord,
        first: SnapshotRecord,
        *,
        head: str = DEFAULT_HEAD,
        vectors: Sequence[tuple[str, str, int]] | None = None,
    ) -> tuple[WorldRecord, SnapshotRecord, bool]:
        """Create ``world`` with ``first`` (a snapshot of it, e.g. a cross of other worlds' snapshots) at
        ``world@head``, all in one transaction: nobody ever sees the world without its first state.

        Returns (world, first, True). If an equal world (ignoring created_at) exists already, nothing changes
        and (stored world, the snapshot at its ``head``, False) comes back; a different one under the name
        raises AlreadyExists."""
        _rows.check_record(first)
        _rows.need_name("head", head)
        if first.world != world.name:
            raise InvalidArgument(
                "first.world", first.world, f"a new world's first snapshot must belong to {world.name!r}"
            )
        with self.commits.order:
            with self._transaction(write=True) as conn:
                stored, created = self._create_world(conn, world)
                if not created:
                    current = self._head(conn, world.name, head)
                    if current is None:
                        raise AlreadyExists(
                            f"world {world.name!r} exists but has no head {head!r}", world=world.name
                        )
                    return stored, self._load(conn, [current])[current], False
                first = self._insert_snapshot(conn, first)
                self._move_head(conn, world.name, head, None, first.id)
                self.discoveries.record(conn, self._insert, first, vectors)
            self.discoveries.committed(vectors)
            self.commits.fire(first)
            return stored, first, True

    def _insert_snapshot(self, conn: Connection, record: SnapshotRecord) -> SnapshotRecord:
        """Store ``record`` and its parent edges unless its id is stored already (same id, same body); returns it
        with its commit seq (``commitlog.next_seq``: from here to the commit, later committers wait). Parents must
        exist and ``record.generation`` must be 1 + the largest of theirs."""
        _rows.check_generation(record, self._generations(conn, record.parents))
        seq = next_seq(conn)
        if not self._insert_new(conn, snapshots, **_rows.snapshot_row(record), seq=seq):
            stored = conn.execute(_prepared.seq_of, {"p_id": record.id}).scalar()
            return replace(record, seq=stored)
        if record.parents:
            conn.execute(
                _prepared.add_parents,
                [{"child": record.id, "position": i, "parent": p} for i, p in enumerate(record.parents)],
            )
        return replace(record, seq=seq)

    def _move_head(self, conn: Connection, world: str, head: str, expected: str | None, new: str) -> None:
        """The compare-and-swap: ``world@head`` goes from ``expected`` (None: absent) to ``new``, or HeadMoved."""
        if expected is None:
            moved = self._insert_new(conn, heads, world=world, name=head, snapshot=new)
        else:
            moved = conn.execute(_prepared.move_head, dict(p_world=world, p_head=head, p_expected=expected,
                                                            p_new=new)).rowcount == 1
        if not moved:
            raise HeadMoved(world, head, expected, self._head(conn, world, head))

    # api keys

    def add_key(self, key: ApiKeyRecord) -> None:
        """Store a key. The same record again is a no-op; another record under a taken id raises AlreadyExists."""
        _rows.need_name("key.id", key.id)
        if key.role not in (ROLE_ADMIN, ROLE_SERVER):
            raise InvalidArgument("key.role", key.role, f"use {ROLE_ADMIN!r} or {ROLE_SERVER!r}")
        with self._transaction(write=True) as conn:
            if not self._insert_new(conn, api_keys, **_rows.fields(key)) and self._key(conn, key.id) != key:
                raise AlreadyExists(f"API key id {key.id!r} is taken: generate a new key", key_id=key.id)

    def get_key(self, key_id: str) -> ApiKeyRecord:
        with self._transaction() as conn:
            return self._key(conn, key_id)

    def _key(self, conn: Connection, key_id: str) -> ApiKeyRecord:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
        if row is None:
            raise NotFound(f"API key {key_id!r} does not exist", key_id=key_id)
        return ApiKeyRecord(**row)

    def count_keys(self, role: str) -> int:
        """How many keys of ``role`` are not revoked."""
        with self._transaction() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(api_keys.c.role == role, sa.not_(api_keys.c.revoked))
            ).scalar_one()


class _KeyTaken(Exception):
    """A concurrent transaction stored the same idempotency key first (PostgreSQL); retry to replay it."""


def _living(name: str, row: Any, deleted: bool = False) -> None:
    """NotFound unless ``row`` (world ``name``'s, with its ``deleted_at``) exists and, unless ``deleted``, is not
    deleted."""
    if row is None:
        raise NotFound(f"world {name!r} does not exist: create it first", world=name)
    if row["deleted_at"] is not None and not deleted:
        raise _worlds.gone(name, row["deleted_at"])
