"""``StateBlobs``: the blob store as every reader of states sees it, chunked states included.

It is a ``BlobStore`` (multiverse/blobs/base.py) that hands every call to the store it wraps, except reads of a
chunked state's id: those are answered from its chunks (multiverse/chunks/store.py), so ``read_state``,
``read_row``, a snapshot's load, a claim's check and the rarity worker read a chunked state as the bytes that
were saved, and a state stored whole before chunking as it always was. ``verify`` on a chunked read checks every
chunk against its address (the manifest, whose SHA-256 is the state's id, names them all), which covers every
byte read; a whole blob is checked against its SHA-256 as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from multiverse.blobs._common import check_range, check_read_args, too_big
from multiverse.blobs.base import CHUNK, BlobStore
from multiverse.chunks.cut import Manifest
from multiverse.chunks.store import ChunkStore
from multiverse.errors import Corrupt, InvalidArgument


class StateBlobs:
    def __init__(self, inner: BlobStore, chunks: ChunkStore) -> None:
        self.inner, self.chunks = inner, chunks

    def __repr__(self) -> str:
        return f"StateBlobs({self.inner!r})"

    def describe(self) -> str:
        return self.inner.describe()

    # -- writes and housekeeping: the wrapped store's ------------------------------------------------------
    def put_file(self, path: Path, digest: str | None = None, *, move: bool = False, hashed: bool = False) -> str:
        return self.inner.put_file(path, digest, move=move, hashed=hashed)

    def put_stream(self, chunks: Iterable[bytes], digest: str | None = None) -> str:
        return self.inner.put_stream(chunks, digest)

    def put_bytes(self, data: bytes) -> str:
        return self.inner.put_bytes(data)

    def delete(self, digest: str) -> None:
        self.inner.delete(digest)

    def digests(self) -> Iterator[str]:
        return self.inner.digests()

    def sweep_staging(self, max_age_s: float = 3600.0) -> int:
        return self.inner.sweep_staging(max_age_s)

    def exists(self, digest: str) -> bool:
        return self.inner.exists(digest) or self.chunks.manifest(digest) is not None

    def __getattr__(self, name: str) -> Any:  # adapter extras (path_of, ...)
        return getattr(self.inner, name)

    # -- reads: a chunked state from its chunks ------------------------------------------------------------
    def _manifest(self, digest: str) -> Manifest | None:
        return self.chunks.manifest(digest)

    def size(self, digest: str) -> int:
        m = self._manifest(digest)
        return self.inner.size(digest) if m is None else m.size

    def open_chunks(self, digest: str, chunk_size: int = CHUNK, *, offset: int = 0,
                    verify: bool = True) -> Iterator[bytes]:
        m = self._manifest(digest)
        if m is None:
            return self.inner.open_chunks(digest, chunk_size, offset=offset, verify=verify)
        check_read_args(chunk_size, offset)
        return _rechunk(self._from(m, offset, m.size - offset), chunk_size)

    def read(self, digest: str, *, verify: bool = True) -> bytes:
        m = self._manifest(digest)
        if m is None:
            return self.inner.read(digest, verify=verify)
        return b"".join(self.chunks.pieces(m))

    def read_into(self, digest: str, buffer: bytearray | memoryview, *, verify: bool = True) -> int:
        m = self._manifest(digest)
        if m is None:
            return self.inner.read_into(digest, buffer, verify=verify)
        view = memoryview(buffer).cast("B")
        if m.size > len(view):
            raise too_big(digest, len(view))
        at = 0
        for piece in self.chunks.pieces(m):
            view[at : at + len(piece)] = piece
            at += len(piece)
        return at

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        m = self._manifest(digest)
        if m is None:
            return self.inner.read_range(digest, offset, length)
        check_range(offset, length)
        if offset > m.size:
            raise InvalidArgument("offset", offset, f"pass an offset between 0 and the state's size {m.size}")
        return b"".join(self._from(m, offset, min(length, m.size - offset)))

    def _from(self, m: Manifest, offset: int, length: int) -> Iterator[bytes]:
        """Bytes [offset, offset + length) of the chunked state ``m``, as pieces."""
        if length <= 0:
            return
        first, last, skip = self.chunks.span(m, offset, length)
        left = length
        for piece in self.chunks.pieces(m, first, last):
            view = memoryview(piece)[skip:]
            skip = 0
            take = view[:left]
            left -= len(take)
            yield bytes(take)
            if left <= 0:
                return
        if left:
            raise Corrupt(f"a chunked state ended {left} bytes early", field="state")


def _rechunk(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    """``pieces`` regrouped into chunks of at most ``size`` bytes (a load's chunk size)."""
    buf = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while view:
            if not buf and len(view) >= size:
                yield bytes(view[:size])
                view = view[size:]
                continue
            take = min(size - len(buf), len(view))
            buf += view[:take]
            view = view[take:]
            if len(buf) == size:
                yield bytes(buf)
                buf = bytearray()
    if buf:
        yield bytes(buf)
