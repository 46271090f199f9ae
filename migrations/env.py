"""Alembic environment for the metadata schema, configured from code (no alembic.ini).

``multiverse.metadata.migrate`` passes an open connection, already inside a transaction that holds the
database's migration lock, in ``config.attributes["connection"]``; everything then runs in that transaction.
For the ``alembic`` command line, set ``sqlalchemy.url`` (``-x url=...`` or the config) instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from multiverse.metadata.models import TABLE_NAMES

config = context.config
target_metadata = SQLModel.metadata


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate looks only at the metadata tables (other packages may share SQLModel.metadata)."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in TABLE_NAMES


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_ours,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite needs batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set the database URL: alembic -x url=sqlite:///path/to/multiverse.db upgrade head")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported; run against a database")
run_migrations_online()
