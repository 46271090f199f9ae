"""Opening a store: migrations to head (idempotent, concurrent-safe, equal to the models), and Unavailable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from multiverse.errors import InvalidArgument, Unavailable
from multiverse.metadata import (
    alembic_config,
    head_revision,
    make_engine,
    open_metadata,
    schema_revision,
    upgrade,
)
from multiverse.metadata.models import TABLE_NAMES, SQLModel
from tests.metadata.factory import SPACE, snap, world

ROOT = Path(__file__).resolve().parents[2]


def test_open_migrates_a_new_database_to_head(db_url):
    engine = make_engine(db_url)
    try:
        assert schema_revision(engine) is None
        with open_metadata(db_url) as meta:
            assert schema_revision(meta.engine) == head_revision()
            assert TABLE_NAMES <= set(sa.inspect(meta.engine).get_table_names())
    finally:
        engine.dispose()


def test_schema_after_migrations_equals_the_models(meta):
    def ours(obj, name, type_, reflected, compare_to):
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in TABLE_NAMES

    with meta.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": ours})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_rerunning_migrations_changes_nothing(db_url):
    with open_metadata(db_url) as meta:
        meta.put_space(SPACE)
        meta.create_world(world("w"))
        root = snap(t=1.0)
        meta.commit_snapshot(root, head="main", expected=None)
    engine = make_engine(db_url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cur, stmt, *a: statements.append(stmt))
    try:
        upgrade(engine)
        upgrade(engine)
    finally:
        engine.dispose()
    writes = [
        s
        for s in statements
        if s.split()[0].upper() not in ("SELECT", "PRAGMA", "BEGIN", "ROLLBACK", "COMMIT")
    ]
    assert writes == []
    with open_metadata(db_url) as meta:
        assert meta.get_head("w", "main") == root.id
        assert meta.get_snapshot(root.id) == root


def test_downgrade_to_base_and_back(db_url):
    from alembic import command

    with open_metadata(db_url) as meta:
        with meta.engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert TABLE_NAMES.isdisjoint(sa.inspect(meta.engine).get_table_names())
        assert schema_revision(meta.engine) is None
        upgrade(meta.engine)
        assert schema_revision(meta.engine) == head_revision()
        meta.put_space(SPACE)


PROCESSES, SAVES_EACH = 2, 5


@pytest.mark.slow
def test_processes_open_a_new_database_at_once_and_race_on_one_head(db_url, tmp_path):
    """Several processes open the same brand-new database at once (each runs the migration), register the
    same space and world, and race on one head. All succeed, and every acknowledged save is on the chain."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.metadata.race_worker",
                db_url,
                str(n),
                str(SAVES_EACH),
                str(tmp_path),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    acknowledged = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        acknowledged += json.loads(out)
    assert len(acknowledged) == PROCESSES * SAVES_EACH
    with open_metadata(db_url) as meta:
        chain, sid = [], meta.get_head("w", "main")
        while sid:
            chain.append(sid)
            parents = meta.get_snapshot(sid).parents
            assert len(parents) <= 1
            sid = parents[0] if parents else None
        assert sorted(chain) == sorted(acknowledged)


def test_unreachable_database_is_unavailable(backend, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'no-such-dir' / 'multiverse.db'}"
    else:
        url = f"postgresql+psycopg://postgres@/multiverse?host={tmp_path / 'no-server-here'}"
    with pytest.raises(Unavailable) as err:
        open_metadata(url)
    assert err.value.retriable and "unavailable" in err.value.message


def test_store_whose_database_goes_away_is_unavailable(tmp_path):
    path = tmp_path / "gone" / "multiverse.db"
    path.parent.mkdir()
    meta = open_metadata(f"sqlite:///{path}")
    meta.close()
    for f in path.parent.iterdir():
        f.unlink()
    path.parent.rmdir()
    with pytest.raises(Unavailable):
        meta.list_spaces()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_unsupported_urls_are_invalid(url):
    with pytest.raises(InvalidArgument) as err:
        open_metadata(url)
    assert err.value.field == "url"


def test_postgres_urls_default_to_psycopg3():
    engine = make_engine("postgresql://u@h/db")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()
