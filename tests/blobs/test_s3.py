"""What only the S3 adapter must handle: an endpoint that is down, bad credentials, a missing bucket."""

from __future__ import annotations

import hashlib
import socket
import time
import uuid

import pytest

from multiverse.blobs import S3BlobStore
from multiverse.errors import Unavailable

pytestmark = pytest.mark.s3


def _dead_endpoint() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_endpoint_down_is_unavailable(tmp_path):
    secret = "s3cr3t-" + uuid.uuid4().hex
    store = S3BlobStore(
        _dead_endpoint(),
        "blobs",
        "p",
        access_key="AKIDTEST",
        secret_key=secret,
        secure=False,
        spool_dir=tmp_path,
    )
    digest = hashlib.sha256(b"x").hexdigest()
    started = time.monotonic()
    calls = [
        lambda: store.put_bytes(b"x"),
        lambda: store.put_stream([b"x"], digest),
        lambda: store.put_stream([b"x"]),
        lambda: store.exists(digest),
        lambda: store.size(digest),
        lambda: store.read(digest),
        lambda: list(store.open_chunks(digest)),
        lambda: list(store.digests()),
        lambda: store.delete(digest),
    ]
    for call in calls:
        with pytest.raises(Unavailable) as caught:
            call()
        assert caught.value.retriable
        assert secret not in str(caught.value) and "AKIDTEST" not in str(caught.value)
        assert "127.0.0.1" in str(caught.value)
    assert time.monotonic() - started < 20  # a few fast retries, not minutes
    assert list(tmp_path.iterdir()) == []  # the spool file of the failed put is gone


def test_wrong_credentials_are_unavailable_without_the_secret(s3_server, s3_bucket):
    secret = "wrong-" + uuid.uuid4().hex
    store = S3BlobStore(
        s3_server.endpoint, s3_bucket, "p", access_key=s3_server.access_key, secret_key=secret, secure=False
    )
    with pytest.raises(Unavailable) as caught:
        store.put_bytes(b"x")
    assert secret not in str(caught.value)
    assert "SignatureDoesNotMatch" in str(caught.value) or "AccessDenied" in str(caught.value)


def test_missing_bucket_is_unavailable_until_ensure_bucket(s3_server):
    bucket = f"new-{uuid.uuid4().hex[:12]}"
    store = S3BlobStore(
        s3_server.endpoint,
        bucket,
        "",
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        secure=False,
    )
    with pytest.raises(Unavailable) as caught:
        store.put_bytes(b"x")
    assert "ensure_bucket" in str(caught.value)
    store.ensure_bucket()
    store.ensure_bucket()  # idempotent
    digest = store.put_bytes(b"x")
    assert store.read(digest) == b"x"
    assert store.key_of(digest) == f"sha256/{digest}"


def test_uploads_go_straight_to_the_final_key(s3_backend, s3_bucket, s3_server):
    """No temporary objects: after puts of every kind, only sha256/<digest> keys exist under the prefix."""
    store = s3_backend.store
    data = b"z" * (11 << 20)
    store.put_bytes(b"small")
    store.put_stream([data[: 3 << 20], data[3 << 20 :]], hashlib.sha256(data).hexdigest())
    store.put_stream([b"spooled"])
    listing = s3_server.client().list_objects(s3_bucket, prefix=store.prefix, recursive=True)
    keys = {o.object_name for o in listing}
    assert keys == {store.key_of(d) for d in store.digests()}
    assert len(keys) == 3
