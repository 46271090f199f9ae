"""The blob store port: content-addressed, immutable blobs keyed by the sha256 of their bytes.

Every adapter keeps the same promises (tests/blobs runs one suite against each):
- ``put_file``/``put_stream`` make a blob visible only once it is complete and its sha256 verified; an
  interrupted or failed put leaves nothing visible under any digest.
- a blob never changes once visible; putting the same bytes again is a no-op that returns the same digest.
- reads of a digest that is not there raise ``multiverse.errors.NotFound``; stored bytes that do not
  match their digest raise ``multiverse.errors.Corrupt``; a backend that cannot be reached raises
  ``multiverse.errors.Unavailable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20  # 1 MiB: the read/stream unit


class BlobStore(Protocol):
    def put_file(self, path: Path, digest: str | None = None, *, move: bool = False, hashed: bool = False) -> str:
        """Store the file at ``path``; returns its sha256 (hex). When ``digest`` is given the file must hash
        to it or ``Corrupt`` is raised and nothing is stored. ``move=True`` lets the adapter consume the file
        (a rename on the local adapter). ``hashed=True`` (with ``digest`` and ``move``) says the caller
        computed ``digest`` over the very bytes it wrote into this private file, so an adapter that can adopt
        the file by a rename need not read it again."""
        ...

    def put_stream(self, chunks: Iterable[bytes], digest: str | None = None) -> str:
        """Store the concatenation of ``chunks``, hashing as it goes; same promises as ``put_file``."""
        ...

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; returns its sha256."""
        ...

    def open_chunks(self, digest: str, chunk_size: int = CHUNK, *, offset: int = 0, verify: bool = True) -> Iterator[bytes]:
        """Yield the blob's bytes from ``offset`` in chunks of at most ``chunk_size``. With ``verify`` a read of
        the whole blob is hashed on the way and raises ``Corrupt`` after the last chunk if it was damaged."""
        ...

    def read(self, digest: str, *, verify: bool = True) -> bytes:
        """The whole blob (for small blobs)."""
        ...

    def read_into(self, digest: str, buffer: bytearray | memoryview, *, verify: bool = True) -> int:
        """Read the whole blob into the start of ``buffer`` (a writable byte buffer) and return its size: one copy
        for a big blob, where ``open_chunks`` makes two. With ``verify`` it is hashed on the way and ``Corrupt``
        is raised if it was damaged (the buffer then holds the damaged bytes). A blob bigger than ``buffer``
        raises ``Corrupt`` too: callers size the buffer from the metadata's record of the blob."""
        ...

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the blob, fewer where it ends first, in one request. NOT verified
        against the digest (that needs the whole blob): the caller checks what it knows the range must hold.
        An offset past the blob's end is InvalidArgument."""
        ...

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...

    def delete(self, digest: str) -> None:
        """Remove a blob (garbage collection only); absent blobs are not an error."""
        ...

    def digests(self) -> Iterator[str]:
        """Every stored digest, in no particular order."""
        ...

    def sweep_staging(self, max_age_s: float = 3600.0) -> int:
        """Remove what puts interrupted by a crash left behind (never visible as blobs); returns how many."""
        ...

    def describe(self) -> str:
        """Where the blobs live, for logs (never a secret)."""
        ...
