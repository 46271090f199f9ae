"""Engines for the metadata store: SQLite (embedded) or PostgreSQL (psycopg 3), set up for many threads.

SQLite gets WAL (readers never block the writer), a busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for
transactions marked with ``WRITE_OPTION``, so two writers (threads or processes) queue for the write lock
instead of failing half-way. PostgreSQL gets a connection pool with pre-ping (a restarted server costs no
failed call) and a connect timeout. Connection-level failures become ``Unavailable`` via ``unavailable``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from multiverse.errors import InvalidArgument, Unavailable

BUSY_TIMEOUT_S = 30.0  # SQLite: how long a writer waits for another writer's lock
WRITE_OPTION = "multiverse_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine for a ``sqlite:///path`` or ``postgresql[+psycopg]://`` URL, set up for many threads."""
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise InvalidArgument(
                "url", parsed.render_as_string(), "use the psycopg 3 driver: postgresql+psycopg://"
            )
        return sa.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10},
        )
    if backend != "sqlite":
        raise InvalidArgument(
            "url", parsed.render_as_string(), "use sqlite:///path/to/file.db or postgresql+psycopg://..."
        )
    memory = parsed.database in (None, "", ":memory:")
    if not memory and not str(parsed.database).startswith("file:"):
        _create_private(str(parsed.database))
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        # One in-memory database is one connection: share it (transactions are serialized by SqlMetadata).
        **({"poolclass": StaticPool} if memory else {"pool_size": pool_size, "max_overflow": max_overflow}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below), not the sqlite3 module
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _wal(cursor)  # readers never block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted records are zeroed where they lie (b-tree pages), freed overflow pages are not: those hold the bytes
        # of inline chunk packs (game states, not secrets; API keys are stored hashed), and overwriting them (SQLite's
        # SECURE_DELETE build default here) made a flusher's or collector's DELETE of 9 MB of packs 60 ms, not 4,
        # inside the write lock every save queues for
        cursor.execute("PRAGMA secure_delete=FAST")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write takes the database's write lock up front, so writers serialize instead of deadlocking
        # when a read transaction tries to upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def _create_private(path: str) -> None:
    """Create the SQLite file with mode 0600 if it is missing (SQLite would make it 0644 under the usual umask,
    and gives its -wal and -shm files the database file's mode). Anything else is left to SQLite to report."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        pass  # it exists (its mode is kept), or its folder is missing or closed: SQLite says so on connect


def _wal(cursor: Any) -> None:
    """Switch the database to WAL (persistent: once one connection has, the rest find it so). The switch needs
    an exclusive lock and SQLite answers "database is locked" at once, without the busy handler, when
    processes open a brand-new file together: retry that until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # a no-op when it is WAL already; ":memory:" stays "memory"
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def where(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def unavailable(engine: Engine, exc: BaseException) -> Unavailable:
    cause = getattr(exc, "orig", None) or exc
    return Unavailable(
        f"metadata database {where(engine)} is unavailable ({type(cause).__name__}: {str(cause).strip()}); "
        "check that it is running and reachable, then retry",
        database=where(engine),
    )
