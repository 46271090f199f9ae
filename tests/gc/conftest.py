"""A real store for the collector's tests: SQLite metadata (PostgreSQL where a test asks) and a blob store of each
adapter (a local directory and a SeaweedFS S3 bucket), with a world's game saving a sliding window of frames.

The chunk store's touch slack (multiverse/chunks/store.py) is set to 0 here, so that grace windows of a fraction
of a second are as safe as an hour is in production (``gc.min_grace`` is twice the slack)."""

from __future__ import annotations

import uuid

import pytest

from multiverse.blobs import LocalBlobStore, S3BlobStore
from multiverse.chunks import store as chunk_store
from multiverse.metadata import open_metadata
from tests.blobs.conftest import s3_bucket  # noqa: F401 - a fixture
from tests.gc.world import ADMIN, SPACE, Env


@pytest.fixture(autouse=True)
def no_touch_slack(monkeypatch):
    monkeypatch.setattr(chunk_store, "TOUCH_SLACK_S", 0.0)


def _blobs(kind: str, request, tmp_path):
    if kind == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
    spool = tmp_path / "s3-spool"
    spool.mkdir()
    return S3BlobStore(server.endpoint, bucket, f"gc/{uuid.uuid4().hex[:12]}", access_key=server.access_key,
                       secret_key=server.secret_key, secure=False, spool_dir=spool)


def make_env(request, tmp_path, blobs: str, db: str = "sqlite") -> Env:
    if db == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        from tests.support.postgres import create_schema

        url = create_schema(request.getfixturevalue("postgres_url"))
    env = Env.open(open_metadata(url), _blobs(blobs, request, tmp_path), tmp_path / "spool")
    env.store.register_space(ADMIN, SPACE)
    return env


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def env(request, tmp_path):
    """The store over each blob adapter (SQLite metadata)."""
    made = make_env(request, tmp_path, request.param)
    yield made
    made.close()


@pytest.fixture
def local_env(request, tmp_path):
    made = make_env(request, tmp_path, "local")
    yield made
    made.close()
