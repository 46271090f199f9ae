"""BlobStore.read_range, checked against every adapter (the suite's fixtures: tests/blobs/conftest.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiverse.errors import InvalidArgument, NotFound

from .test_contract import MiB, blob, sha


def test_read_range_returns_those_bytes_in_one_call(store):
    data = blob(3 * MiB + 123, seed=9)
    digest = store.put_bytes(data)
    for offset, length in [(0, 0), (0, 8), (1, 1), (MiB - 3, 7), (MiB, 2 * MiB), (len(data) - 5, 5),
                           (len(data) - 5, 100), (len(data), 0), (len(data), 10), (0, len(data) + 1)]:
        assert store.read_range(digest, offset, length) == data[offset : offset + length], (offset, length)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=5_000), offset=st.integers(0, 5_000), length=st.integers(0, 6_000))
def test_read_range_property(store, data, offset, length):
    digest = store.put_bytes(data)
    offset = min(offset, len(data))
    assert store.read_range(digest, offset, length) == data[offset : offset + length]


def test_read_range_bad_arguments_and_missing_blob(store):
    digest = store.put_bytes(b"12345")
    for args, field in [((6, 1), "offset"), ((-1, 1), "offset"), ((0, -1), "length"), ((True, 1), "offset"),
                        ((0, 1.5), "length")]:
        with pytest.raises(InvalidArgument) as caught:
            store.read_range(digest, *args)
        assert caught.value.field == field, args
    with pytest.raises(NotFound):
        store.read_range(sha(b"never stored"), 0, 1)


def test_read_range_is_not_verified(backend):
    """A ranged read cannot hash the blob: it returns the stored bytes, damaged or not (callers check what they
    know the range must hold)."""
    data = blob(MiB + 1, seed=10)
    digest = backend.store.put_bytes(data)
    backend.tamper(digest, data[:-1] + b"!")
    assert backend.store.read_range(digest, len(data) - 3, 3) == data[-3:-1] + b"!"
