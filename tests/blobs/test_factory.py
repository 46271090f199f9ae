"""open_blob_store: URL forms, validation, and no credentials anywhere they could leak."""

from __future__ import annotations

import pytest

from multiverse.blobs import LocalBlobStore, S3BlobStore, open_blob_store
from multiverse.errors import InvalidArgument

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def test_plain_path_and_file_url(tmp_path):
    for url in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}"):
        store = open_blob_store(url)
        assert isinstance(store, LocalBlobStore)
        assert store.root.is_dir()


def test_s3_url():
    store = open_blob_store(
        "s3://worlds/prod/blobs?endpoint=minio.internal:9000&secure=false&region=eu-west-1",
        access_key="AKID",
        secret_key=SECRET,
    )
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("worlds", "prod/blobs")
    assert (store.endpoint, store.secure) == ("minio.internal:9000", False)
    assert store.key_of("a" * 64) == "prod/blobs/sha256/" + "a" * 64
    text = store.describe() + repr(store)
    assert "worlds" in text and "minio.internal:9000" in text
    assert SECRET not in text and "AKID" not in text


def test_s3_defaults():
    store = open_blob_store("s3://worlds")
    assert (store.endpoint, store.secure, store.prefix) == ("s3.amazonaws.com", True, "")
    assert store.key_of("b" * 64) == "sha256/" + "b" * 64


@pytest.mark.parametrize(
    "url, fix",
    [
        (f"s3://AKID:{SECRET}@worlds/p?endpoint=h:1", "credentials"),
        (f"s3://worlds/p?endpoint=h:1&secret_key={SECRET}", "credentials"),
        (f"s3://worlds/p?endpoint=h:1&token={SECRET}", "unknown parameter"),
        ("s3://worlds/p?secure=maybe", "secure"),
        ("s3://worlds/p?endpoint=a:1&endpoint=b:2", "once"),
        ("s3:///p", "bucket"),
        ("s3://Not_A_Bucket/p", "bucket"),
        ("gs://worlds/p", "scheme"),
        ("file://host/dir", "file:///"),
        ("", "s3://"),
    ],
)
def test_bad_urls_are_rejected_without_echoing_secrets(url, fix):
    with pytest.raises(InvalidArgument) as caught:
        open_blob_store(url)
    assert fix in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.details)


def test_half_a_credential_pair_is_rejected():
    with pytest.raises(InvalidArgument) as caught:
        open_blob_store("s3://worlds", access_key="AKID")
    assert caught.value.field == "secret_key"
    assert "AKID" not in str(caught.value)
