"""File-like readers the S3 adapter hands to the minio SDK (which only calls ``read(n)``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from multiverse.blobs._common import byte_view, mismatch
from multiverse.errors import Corrupt


class ChunkReader:
    """``read(n)`` over an iterable of byte chunks, returning n bytes at a time (one join per call) so that
    the SDK gets each part in one piece instead of concatenating small reads."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        parts: list[memoryview] = []
        want = n if n >= 0 else 1 << 62
        while want > 0:
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending = byte_view(chunk, "chunks")
                continue
            take = self._pending[:want]
            self._pending = self._pending[len(take) :]
            parts.append(take)
            want -= len(take)
        if len(parts) == 1:
            return parts[0].tobytes()
        return b"".join(parts)


class VerifyingReader:
    """A file-like ``read(n)`` for the SDK that hashes what passes through and, when ``expected`` is set,
    raises ``Corrupt`` on the read that would hand over the last byte if the content does not hash to it.

    ``length`` is the number of bytes to deliver (None: until the source is exhausted). Whatever the source
    or the check raises is kept in ``error`` so the adapter re-raises it unchanged, not as an S3 error."""

    def __init__(
        self,
        source: Callable[[int], bytes],
        expected: str | None,
        length: int | None,
        *,
        what: str = "stream",
    ) -> None:
        self._source = source
        self._expected = expected
        self._remaining = length
        self._what = what
        self._hash = hashlib.sha256()
        self._done = False
        self.error: BaseException | None = None
        if length == 0:
            self._finish()  # the SDK never reads an empty body: check it now

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        try:
            want = n if n >= 0 else 1 << 62
            if self._remaining is not None:
                want = min(want, self._remaining)
            data = self._source(want) if want else b""
            self._hash.update(data)
            if self._remaining is None:
                if not data:
                    self._finish()
                return data
            self._remaining -= len(data)
            if not data and self._remaining > 0:
                raise Corrupt(
                    f"{self._what} ended {self._remaining} bytes early: it changed while it was being "
                    "stored; nothing was stored, store it again once it is complete"
                )
            if self._remaining == 0:
                self._finish()
            return data
        except BaseException as exc:
            self.error = exc
            raise

    def _finish(self) -> None:
        self._done = True
        actual = self._hash.hexdigest()
        if self._expected is not None and actual != self._expected:
            self.error = mismatch(self._expected, actual, self._what)
            raise self.error
