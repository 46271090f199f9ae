"""The blob store under test: the same suite runs against each adapter (``backend`` is parametrized).

A ``Backend`` carries the store plus the few adapter-specific hooks the shared suite needs: damage a stored
blob, leave a crashed put's staging behind, and count staging leftovers.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from multiverse.blobs import LocalBlobStore, S3BlobStore

S3_PART = 5 << 20  # the S3 minimum, so that multi-MiB test blobs go up in several parts


@dataclass
class Backend:
    name: str
    store: LocalBlobStore | S3BlobStore
    tamper: Callable[[str, bytes], None]  # replace the stored bytes of a digest
    leave_staging: Callable[[], None]  # what a put killed half-way leaves behind
    staging_count: Callable[[], int]
    secrets: tuple[str, ...] = ()


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    """One bucket for the session (each test gets its own prefix in it)."""
    name = f"blobs-{uuid.uuid4().hex[:12]}"
    s3_server.client().make_bucket(name)
    return name


def _local(tmp_path) -> Backend:
    store = LocalBlobStore(tmp_path / "blobs")

    def tamper(digest: str, data: bytes) -> None:
        path = store.path_of(digest)
        path.chmod(0o644)
        path.write_bytes(data)
        path.chmod(0o444)

    def leave_staging() -> None:
        stale = store.root / "tmp" / "put-crashed.part"
        stale.write_bytes(b"half a blob")
        old = time.time() - 7200
        os.utime(stale, (old, old))

    return Backend("local", store, tamper, leave_staging, lambda: len(os.listdir(store.root / "tmp")))


def _s3(request, tmp_path) -> Backend:
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    store = S3BlobStore(
        server.endpoint,
        bucket,
        f"t/{uuid.uuid4().hex[:12]}",
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        part_size=S3_PART,
        spool_dir=tmp_path,
    )
    raw = server.client()

    def tamper(digest: str, data: bytes) -> None:
        import io

        raw.put_object(bucket, store.key_of(digest), io.BytesIO(data), len(data))

    def leave_staging() -> None:
        raw._create_multipart_upload(bucket, store.key_of("0" * 64), {})

    def staging_count() -> int:
        listing = raw._list_multipart_uploads(bucket, prefix=store.key_of("0" * 64)[:-64])
        return len(listing.uploads) + len(os.listdir(tmp_path))  # incomplete uploads + spool files

    return Backend("s3", store, tamper, leave_staging, staging_count, (server.secret_key, server.access_key))


@pytest.fixture
def s3_backend(request, tmp_path) -> Backend:
    spool = tmp_path / "spool"
    spool.mkdir()
    return _s3(request, spool)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return _local(tmp_path)
    return request.getfixturevalue("s3_backend")


@pytest.fixture
def store(backend: Backend) -> LocalBlobStore | S3BlobStore:
    return backend.store
