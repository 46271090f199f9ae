"""The BlobStore promises (multiverse/blobs/base.py), checked against every adapter."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiverse.errors import Corrupt, InvalidArgument, NotFound

MiB = 1 << 20
SIZES = [0, 1, 1000, MiB + 7, 12 * MiB + 3]  # 12 MiB: several S3 parts of 5 MiB


def blob(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes (cheaper than os.urandom for big sizes)."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size] if size else b""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def check_stored(store, data: bytes, digest: str) -> None:
    assert digest == sha(data)
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    assert store.read(digest) == data
    assert b"".join(store.open_chunks(digest)) == data
    into = bytearray(len(data) + 3)  # room to spare: the size says where the blob ends
    assert store.read_into(digest, into) == len(data) and into[:len(data)] == data
    assert digest in set(store.digests())


# ---- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_put_bytes_round_trip(store, size):
    data = blob(size)
    check_stored(store, data, store.put_bytes(data))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("with_digest", [False, True], ids=["no-digest", "digest"])
def test_put_stream_round_trip(store, size, with_digest):
    data = blob(size, seed=1)
    chunks = iter([b""] + pieces(data, 300_001) + [b""])  # odd sizes and empty chunks
    digest = store.put_stream(chunks, sha(data) if with_digest else None)
    check_stored(store, data, digest)


@pytest.mark.parametrize("size", [0, 1000, 12 * MiB + 3])
@pytest.mark.parametrize("move", [False, True], ids=["copy", "move"])
@pytest.mark.parametrize("with_digest", [False, True], ids=["no-digest", "digest"])
def test_put_file_round_trip(store, tmp_path, size, move, with_digest):
    data = blob(size, seed=2)
    path = tmp_path / "state.safetensors"
    path.write_bytes(data)
    digest = store.put_file(path, sha(data) if with_digest else None, move=move)
    check_stored(store, data, digest)
    assert path.exists() is not move


def test_put_file_of_bytes_the_caller_hashed_while_writing(store, tmp_path):
    data = blob(300_000, seed=4)
    path = tmp_path / "spooled.upload"
    path.write_bytes(data)
    assert store.put_file(path, sha(data), move=True, hashed=True) == sha(data)
    check_stored(store, data, sha(data))
    assert not path.exists()


def test_put_accepts_bytearray_and_memoryview(store):
    data = blob(5000, seed=3)
    assert store.put_bytes(bytearray(data)) == sha(data)
    assert store.put_stream([memoryview(data)[:10], bytearray(data[10:])]) == sha(data)
    assert store.read(sha(data)) == data


def test_put_again_is_a_no_op(store, tmp_path):
    data = blob(MiB + 5, seed=4)
    digest = store.put_bytes(data)
    path = tmp_path / "again"
    path.write_bytes(data)
    assert store.put_bytes(data) == digest
    assert store.put_stream(pieces(data, 4096), digest) == digest
    assert store.put_stream(pieces(data, 4096)) == digest
    assert store.put_file(path, digest) == digest
    assert store.put_file(path, move=True) == digest
    assert not path.exists()
    assert list(store.digests()) == [digest]
    assert store.read(digest) == data


# ---- nothing half-written or unverified is ever visible -----------------------------------------------


@pytest.mark.parametrize("size", [0, 10, 12 * MiB + 3])
@pytest.mark.parametrize("how", ["stream", "file-copy", "file-move"])
def test_wrong_digest_is_corrupt_and_stores_nothing(backend, tmp_path, size, how):
    store = backend.store
    kept = store.put_bytes(b"already there")
    data = blob(size, seed=5)
    claimed = sha(b"something else")
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(Corrupt) as caught:
        if how == "stream":
            store.put_stream(pieces(data, MiB), claimed)
        else:
            store.put_file(path, claimed, move=how == "file-move")
    assert claimed in str(caught.value) and sha(data) in str(caught.value)
    assert not store.exists(claimed)
    assert not store.exists(sha(data))
    assert list(store.digests()) == [kept]
    assert path.read_bytes() == data  # the caller's file is left alone, even with move=True
    assert backend.staging_count() == 0


def test_wrong_digest_for_a_stored_blob_is_corrupt(store, tmp_path):
    digest = store.put_bytes(b"the real bytes")
    with pytest.raises(Corrupt):
        store.put_stream([b"other bytes"], digest)
    path = tmp_path / "other"
    path.write_bytes(b"other bytes")
    with pytest.raises(Corrupt):
        store.put_file(path, digest, move=True)
    assert path.exists()
    assert store.read(digest) == b"the real bytes"


class Interrupted(Exception):
    pass


def failing_stream(good: bytes, chunk: int = MiB):
    yield from pieces(good, chunk)
    raise Interrupted("the game server went away")


@pytest.mark.parametrize("size", [100, 12 * MiB])
@pytest.mark.parametrize("with_digest", [False, True], ids=["no-digest", "digest"])
def test_interrupted_stream_leaves_nothing(backend, size, with_digest):
    store = backend.store
    kept = store.put_bytes(b"already there")
    data = blob(size, seed=6)
    full = data + b"the rest that never came"
    with pytest.raises(Interrupted):  # the caller's own error comes back unchanged
        store.put_stream(failing_stream(data), sha(full) if with_digest else None)
    assert not store.exists(sha(data))
    assert not store.exists(sha(full))
    assert list(store.digests()) == [kept]
    assert backend.staging_count() == 0


def test_non_bytes_chunks_are_rejected(store):
    with pytest.raises(InvalidArgument) as caught:
        store.put_stream(["not bytes"])  # type: ignore[list-item]
    assert caught.value.field == "chunks"
    with pytest.raises(InvalidArgument):
        store.put_bytes("not bytes")  # type: ignore[arg-type]
    assert list(store.digests()) == []


def test_sweep_staging_removes_what_a_crashed_put_left(backend):
    backend.leave_staging()
    assert backend.staging_count() == 1
    assert backend.store.sweep_staging(max_age_s=24 * 3600) == 0  # too young: maybe a put in flight
    assert backend.store.sweep_staging(max_age_s=0) == 1
    assert backend.staging_count() == 0
    assert list(backend.store.digests()) == []


# ---- reads --------------------------------------------------------------------------------------------


def test_open_chunks_offsets_and_sizes(store):
    data = blob(3 * MiB + 123, seed=7)
    digest = store.put_bytes(data)
    for offset in (0, 1, MiB, MiB + 1, len(data) - 1, len(data)):
        for chunk_size in (7_000, 65_536, MiB, 8 * MiB):
            chunks = list(store.open_chunks(digest, chunk_size, offset=offset))
            assert b"".join(chunks) == data[offset:]
            assert all(0 < len(c) <= chunk_size for c in chunks)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=20_000), cut=st.integers(0, 20_000), chunk_size=st.integers(1, 6_000))
def test_open_chunks_property(store, data, cut, chunk_size):
    offset = min(cut, len(data))
    digest = store.put_stream(pieces(data, 777))
    chunks = list(store.open_chunks(digest, chunk_size, offset=offset))
    assert b"".join(chunks) == data[offset:]
    assert all(0 < len(c) <= chunk_size for c in chunks)


def test_bad_read_arguments(store):
    digest = store.put_bytes(b"12345")
    for kwargs, field in [
        ({"offset": 6}, "offset"),
        ({"offset": -1}, "offset"),
        ({"chunk_size": 0}, "chunk_size"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            store.open_chunks(digest, **kwargs)
        assert caught.value.field == field


def test_missing_blob_is_not_found(store):
    digest = sha(b"never stored")
    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.read(digest)
    with pytest.raises(NotFound):
        store.size(digest)
    with pytest.raises(NotFound):
        store.open_chunks(digest)  # raised on the call, not on the first next()
    with pytest.raises(NotFound):
        store.read_into(digest, bytearray(10))
    store.delete(digest)  # absent is not an error


def test_delete(store):
    keep = store.put_bytes(b"keep")
    gone = store.put_bytes(b"gone")
    store.delete(gone)
    store.delete(gone)
    assert not store.exists(gone)
    assert set(store.digests()) == {keep}


def test_digests_lists_every_blob(store):
    assert list(store.digests()) == []
    expected = {store.put_bytes(f"blob {i}".encode()) for i in range(12)}
    assert set(store.digests()) == expected
    assert len(list(store.digests())) == 12


BAD_DIGESTS: list[object] = [
    "",
    "abc",
    "g" * 64,
    "A" * 64,
    "a" * 63,
    "a" * 65,
    " " + "a" * 63,
    "sha256:" + "a" * 64,
]
BAD_DIGESTS += [None, 12]


@pytest.mark.parametrize("bad", BAD_DIGESTS, ids=repr)
def test_malformed_digests_are_rejected(store, tmp_path, bad):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    calls = [
        lambda: store.read(bad),
        lambda: store.open_chunks(bad),
        lambda: store.exists(bad),
        lambda: store.size(bad),
        lambda: store.delete(bad),
    ]
    if bad is not None:  # None means "no digest" for puts
        calls += [lambda: store.put_stream([b"x"], bad), lambda: store.put_file(path, bad)]
    for call in calls:
        with pytest.raises(InvalidArgument) as caught:
            call()
        assert caught.value.field == "digest"
        assert "64" in str(caught.value)  # says what a good one looks like
    assert list(store.digests()) == []


def test_damaged_blob_is_detected_on_a_verifying_read(backend):
    store = backend.store
    data = blob(2 * MiB + 1, seed=8)
    digest = store.put_bytes(data)
    backend.tamper(digest, data[:-1] + b"!")
    with pytest.raises(Corrupt) as caught:
        store.read(digest)
    assert digest in str(caught.value)
    with pytest.raises(Corrupt):
        list(store.open_chunks(digest))
    with pytest.raises(Corrupt):
        store.read_into(digest, bytearray(len(data)))
    into = memoryview(bytearray(len(data)))
    assert store.read_into(digest, into, verify=False) == len(data) and into == data[:-1] + b"!"
    assert store.read(digest, verify=False) == data[:-1] + b"!"
    assert b"".join(store.open_chunks(digest, offset=10)) == data[10:-1] + b"!"  # partial reads: unverified


# ---- concurrency --------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["bytes", "stream", "file"])
def test_concurrent_puts_of_the_same_content(backend, tmp_path, how):
    store = backend.store
    data = blob(2 * MiB + 9, seed=9)
    threads = 6
    barrier = threading.Barrier(threads)
    results: list[str] = []
    errors: list[BaseException] = []

    def put(i: int) -> None:
        try:
            barrier.wait()
            if how == "bytes":
                results.append(store.put_bytes(data))
            elif how == "stream":
                results.append(store.put_stream(pieces(data, 256 * 1024)))
            else:
                path = tmp_path / f"copy{i}"
                path.write_bytes(data)
                results.append(store.put_file(path, move=True))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=put, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert results == [sha(data)] * threads
    assert list(store.digests()) == [sha(data)]
    assert store.read(sha(data)) == data
    assert backend.staging_count() == 0
    assert not [p for p in os.listdir(tmp_path) if p.startswith("copy")]


# ---- describe -----------------------------------------------------------------------------------------


def test_describe_names_the_place_and_no_secret(backend):
    text = backend.store.describe() + repr(backend.store)
    assert text
    for secret in backend.secrets:
        assert secret not in text


def test_missing_source_file_is_invalid(store, tmp_path):
    with pytest.raises(InvalidArgument) as caught:
        store.put_file(tmp_path / "nope")
    assert caught.value.field == "path"
    with pytest.raises(InvalidArgument):
        store.put_file(Path(tmp_path))


def test_put_stream_of_a_reused_buffer_stores_each_chunk_as_it_was_yielded(store):
    """A producer may refill one buffer for every chunk: a chunk is written and hashed before the next is asked for
    (the local store writes and hashes big chunks in 4 MiB pieces)."""
    data = blob(3 * 4 * MiB + 12345, seed=9)  # pieces bigger than the store's 4 MiB write unit, and a ragged tail

    def refilled(size: int):
        buf = bytearray(size)
        for start in range(0, len(data), size):
            n = len(data[start:start + size])
            buf[:n] = data[start:start + n]
            yield memoryview(buf)[:n]
            buf[:] = b"\xff" * size  # scribble over what was yielded: it must be stored already

    assert store.put_stream(refilled(5 * MiB + 7)) == sha(data)
    check_stored(store, data, sha(data))


@pytest.mark.parametrize("room", [0, 1, 4 * MiB, 5 * MiB - 1], ids=["empty", "1", "4MiB", "one-short"])
def test_read_into_a_buffer_too_small_is_corrupt(store, room):
    """The caller sizes the buffer from the metadata's record: a blob bigger than that is not what was recorded."""
    data = blob(5 * MiB, seed=11)
    digest = store.put_bytes(data)
    with pytest.raises(Corrupt) as caught:
        store.read_into(digest, bytearray(room))
    assert digest in str(caught.value) and str(room) in str(caught.value)


def test_read_into_fills_a_numpy_buffer_in_place(store):
    data = blob(9 * MiB + 5, seed=12)
    digest = store.put_bytes(data)
    buf = np.empty(len(data), dtype=np.uint8)
    assert store.read_into(digest, memoryview(buf)) == len(data)
    assert buf.tobytes() == data
