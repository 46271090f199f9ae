"""Metadata: spaces, worlds, snapshot records, heads, idempotency keys and API keys, in SQLite or PostgreSQL.

    from multiverse.metadata import open_metadata
    meta = open_metadata("sqlite:///data/multiverse.db")  # or postgresql+psycopg://user@host/db
    meta.commit_snapshot(record, head="main", expected=None)

``open_metadata`` migrates the schema to the newest revision (Alembic, ``migrations/`` at the repository
root) before it returns; that is a no-op on an up-to-date database, and safe when several processes open
the same database at once (the migration runs under the database's write lock: ``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL).
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from multiverse.metadata._engine import WRITE_OPTION, make_engine, unavailable
from multiverse.metadata.base import Metadata
from multiverse.metadata.sql import SqlMetadata

__all__ = [
    "MIGRATIONS_DIR",
    "Metadata",
    "SqlMetadata",
    "alembic_config",
    "head_revision",
    "make_engine",
    "open_metadata",
    "schema_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_MIGRATION_LOCK_KEY = 0x6D76_6D65_7461  # PostgreSQL advisory lock id ("mvmeta"), scoped to one database
_alembic = threading.Lock()  # Alembic's `context` and `op` are process-wide proxies: one migration at a time


def open_metadata(
    url: str, *, migrate: bool = True, pool_size: int = 10, max_overflow: int = 20
) -> SqlMetadata:
    """Open the metadata store at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``), migrated to head.

    Raises Unavailable if the database cannot be reached, InvalidArgument for an unsupported URL."""
    engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    try:
        if migrate:
            upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return SqlMetadata(engine)


def alembic_config() -> Config:
    """Alembic's configuration, from code: the scripts are in ``migrations/`` at the repository root."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise RuntimeError(f"Alembic migrations not found at {MIGRATIONS_DIR}: run from a source checkout")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR / 'versions'}")
    return head


def schema_revision(engine: Engine) -> str | None:
    """The revision the database at ``engine`` is at (None: not migrated yet)."""
    try:
        with engine.connect() as conn, conn.begin():
            return MigrationContext.configure(conn).get_current_revision()
    except (OperationalError, InterfaceError) as exc:
        raise unavailable(engine, exc) from exc


def upgrade(engine: Engine) -> None:
    """Migrate the database at ``engine`` to head. Idempotent; concurrent callers (threads or processes)
    wait for each other, and all but the first find nothing to do."""
    head = head_revision()
    if schema_revision(engine) == head:
        return
    config = alembic_config()
    try:
        with _alembic, engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})  # SQLite: BEGIN IMMEDIATE, the database write lock
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                config.attributes["connection"] = conn
                command.upgrade(config, "head")  # re-reads the revision under the lock
    except (OperationalError, InterfaceError) as exc:
        raise unavailable(engine, exc) from exc
