"""One suite, two databases: every test that takes ``meta`` (or ``db_url``) runs on SQLite and PostgreSQL.

SQLite gets a file in the test's tmp_path; PostgreSQL a fresh schema in the session database (its URL sets
``search_path``), so tests never see each other's tables or rows.
"""

from __future__ import annotations

import pytest

from multiverse.metadata import SqlMetadata, open_metadata
from tests.metadata.factory import SPACE, world

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, request, tmp_path) -> str:
    """The URL of an empty database of ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'multiverse.db'}"
    from tests.support.postgres import create_schema

    return create_schema(request.getfixturevalue("postgres_url"))


@pytest.fixture
def meta(db_url):
    with open_metadata(db_url) as store:
        yield store


@pytest.fixture
def meta_w(meta: SqlMetadata) -> SqlMetadata:
    """A store with the space ``tileworld-v1`` and the world ``w`` in it."""
    meta.put_space(SPACE)
    meta.create_world(world("w"))
    return meta
