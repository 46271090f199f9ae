"""The blob store in a local directory: the embedded default.

Layout under ``root``::

    sha256/ab/cd/abcd...   one read-only (0o444) file per blob, named by the sha256 of its bytes
    tmp/                   staging files, on the same filesystem so that publishing is a rename

A put writes and hashes in one pass into a staging file, fsyncs it, and publishes it with ``os.link`` (atomic,
never replaces a blob that is already there; ``os.replace`` where hard links are not supported), then fsyncs
the directory. A crash leaves at most a staging file behind, never a partial blob: ``sweep_staging`` removes
those (the service calls it on start-up).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from multiverse.blobs._common import (
    IO_BUFFER,
    byte_view,
    check_digest,
    check_offset,
    check_range,
    check_read_args,
    hash_chunks,
    hash_fd,
    hash_file,
    is_digest,
    mismatch,
    stat_source,
    stored_mismatch,
    too_big,
    write_all,
    write_hashed,
)
from multiverse.blobs.base import CHUNK
from multiverse.errors import NotFound

BLOB_MODE = 0o444


class LocalBlobStore:
    """Content-addressed blobs in a directory. ``fsync=False`` skips the flushes (throwaway stores only)."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._objects = self.root / "sha256"
        self._staging = self.root / "tmp"
        self._fsync = fsync
        self._objects.mkdir(parents=True, exist_ok=True)
        self._staging.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore(root={str(self.root)!r})"

    def describe(self) -> str:
        return f"local directory {self.root}"

    def path_of(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it is there)."""
        check_digest(digest)
        return self._objects / digest[:2] / digest[2:4] / digest

    # ---- writes -------------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        view = byte_view(data, "data")
        digest = hashlib.sha256(view).hexdigest()
        if self.exists(digest):
            return digest
        fd, staging = self._new_staging()
        try:
            write_all(fd, view)
            self._seal(fd)
        except BaseException:
            _discard(fd, staging)
            raise
        os.close(fd)
        self._commit(staging, digest)
        return digest

    def put_stream(self, chunks: Iterable[bytes], digest: str | None = None) -> str:
        expected = None if digest is None else check_digest(digest)
        if expected is not None and self.exists(expected):
            # already stored: only check that the caller's bytes are the ones it claims
            actual = hash_chunks(chunks)
            if actual != expected:
                raise mismatch(expected, actual, "stream")
            return expected
        fd, staging = self._new_staging()
        try:
            actual, _ = write_hashed(fd, chunks, writeback=self._fsync)
            if expected is not None and actual != expected:
                raise mismatch(expected, actual, "stream")
            self._seal(fd)
        except BaseException:
            _discard(fd, staging)
            raise
        os.close(fd)
        self._commit(staging, actual)
        return actual

    def put_file(self, path: Path, digest: str | None = None, *, move: bool = False, hashed: bool = False) -> str:
        """Store the file at ``path``. With ``move=True`` a regular file on this store's filesystem is renamed
        into the store (after its hash is verified; on a mismatch it is put back); any other file is copied
        and then removed."""
        path = Path(path)
        expected = None if digest is None else check_digest(digest)
        st = stat_source(path)
        if move and stat.S_ISREG(st.st_mode) and st.st_dev == os.stat(self._staging).st_dev:
            return self._adopt(path, expected, hashed=hashed and expected is not None)
        if expected is not None and self.exists(expected):
            actual = hash_file(path)
            if actual != expected:
                raise mismatch(expected, actual, f"file {path}")
        else:
            actual = self._copy_in(path, expected)
        if move:
            os.unlink(path)
        return actual

    def _copy_in(self, path: Path, expected: str | None) -> str:
        fd, staging = self._new_staging()
        try:
            with open(path, "rb", buffering=0) as src:
                actual, _ = write_hashed(fd, _pieces(src), writeback=self._fsync)
            if expected is not None and actual != expected:
                raise mismatch(expected, actual, f"file {path}")
            self._seal(fd)
        except BaseException:
            _discard(fd, staging)
            raise
        os.close(fd)
        self._commit(staging, actual)
        return actual

    def _adopt(self, path: Path, expected: str | None, *, hashed: bool = False) -> str:
        """Rename ``path`` into staging (so nobody renames it under us), verify (unless the caller ``hashed``
        the bytes as it wrote them), publish. On any failure the caller gets its file back where it was, with
        its mode restored."""
        staging = self._staging / f"move-{uuid.uuid4().hex}.part"
        try:
            os.rename(path, staging)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            actual = self._copy_in(path, expected)  # a bind mount: same st_dev, different mount
            os.unlink(path)
            return actual
        mode = stat.S_IMODE(os.stat(staging).st_mode)
        try:
            fd = os.open(staging, os.O_RDONLY)
            try:
                actual = expected if hashed else hash_fd(fd)
                if expected is not None and actual != expected:
                    raise mismatch(expected, actual, f"file {path}")
                self._seal(fd)
            finally:
                os.close(fd)
            self._publish(staging, actual)
        except BaseException:
            if staging.exists():
                os.chmod(staging, mode)
                os.rename(staging, path)
            raise
        return actual

    def _new_staging(self) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self._staging, prefix="put-", suffix=".part")

    def _seal(self, fd: int) -> None:
        """Make the staging file durable and read-only before it becomes visible."""
        if self._fsync:
            os.fsync(fd)
        os.fchmod(fd, BLOB_MODE)

    def _publish(self, staging: str | Path, digest: str) -> None:
        """Make the sealed staging file visible as blob ``digest``; the staging name is gone afterwards.
        On an error the staging file is left for the caller to clean up."""
        final = self.path_of(digest)
        parent = final.parent
        if not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True)
            self._sync_dir(parent.parent)
            self._sync_dir(self._objects)
        try:
            os.link(staging, final)  # atomic; an existing blob (same bytes) is kept as it is
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                raise
            os.replace(staging, final)  # no hard links here: replacing identical bytes is as safe
            self._sync_dir(parent)
            return
        else:
            self._sync_dir(parent)
        os.unlink(staging)

    def _commit(self, staging: str, digest: str) -> None:
        """Publish a staging file this store created; remove it if publishing fails."""
        try:
            self._publish(staging, digest)
        except BaseException:
            _unlink_quiet(staging)
            raise

    def _sync_dir(self, directory: Path) -> None:
        if not self._fsync:
            return
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def sweep_staging(self, max_age_s: float = 3600.0) -> int:
        """Remove staging files older than ``max_age_s`` seconds (left by crashed puts); returns how many.
        Pass 0 on start-up when no other process writes to this store."""
        cutoff = time.time() - max_age_s
        removed = 0
        with os.scandir(self._staging) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # another sweeper got there first
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    # ---- reads --------------------------------------------------------------------------------------

    def open_chunks(
        self, digest: str, chunk_size: int = CHUNK, *, offset: int = 0, verify: bool = True
    ) -> Iterator[bytes]:
        """Yield the blob from ``offset`` in chunks of at most ``chunk_size`` bytes. A read of the whole blob
        (``offset=0``) is hashed on the way and raises ``Corrupt`` after the last chunk if the bytes were
        damaged; ``verify=False`` skips that."""
        path = self.path_of(digest)
        check_read_args(chunk_size, offset)
        check_offset(offset, self._stat_blob(path, digest).st_size, digest)
        return self._chunks(path, digest, chunk_size, offset, verify and offset == 0)

    def _chunks(self, path: Path, digest: str, chunk_size: int, offset: int, verify: bool) -> Iterator[bytes]:
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.describe()}", digest=digest) from None
        with f:
            if offset:
                f.seek(offset)
            h = hashlib.sha256() if verify else None
            while chunk := f.read(chunk_size):
                if h is not None:
                    h.update(chunk)
                yield chunk
        if h is not None and (actual := h.hexdigest()) != digest:
            raise stored_mismatch(digest, actual, self.describe())

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        """A seek and one read (pread) of the file: unverified, see BlobStore.read_range."""
        check_range(offset, length)
        path = self.path_of(digest)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.describe()}", digest=digest) from None
        try:
            check_offset(offset, os.fstat(fd).st_size, digest)
            parts, at, end = [], offset, offset + length
            while at < end and (got := os.pread(fd, end - at, at)):
                parts.append(got)
                at += len(got)
            return b"".join(parts)
        finally:
            os.close(fd)

    def read(self, digest: str, *, verify: bool = True) -> bytes:
        path = self.path_of(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.describe()}", digest=digest) from None
        if verify and (actual := hashlib.sha256(data).hexdigest()) != digest:
            raise stored_mismatch(digest, actual, self.describe())
        return data

    def read_into(self, digest: str, buffer: bytearray | memoryview, *, verify: bool = True) -> int:
        """The file read straight into ``buffer`` in IO_BUFFER pieces, each hashed as soon as it lands."""
        path = self.path_of(digest)
        view = memoryview(buffer).cast("B")
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.describe()}", digest=digest) from None
        h = hashlib.sha256() if verify else None
        pos = 0
        with f:
            while n := f.readinto(view[pos:pos + IO_BUFFER]):
                if h is not None:
                    h.update(view[pos:pos + n])
                pos += n
            if pos == len(view) and f.read(1):
                raise too_big(digest, len(view))
        if h is not None and (actual := h.hexdigest()) != digest:
            raise stored_mismatch(digest, actual, self.describe())
        return pos

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def size(self, digest: str) -> int:
        return self._stat_blob(self.path_of(digest), digest).st_size

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_of(digest))

    def digests(self) -> Iterator[str]:
        for first in _subdirs(self._objects):
            for second in _subdirs(first):
                with os.scandir(second) as entries:
                    for entry in entries:
                        if is_digest(entry.name) and entry.name.startswith(first.name + second.name):
                            yield entry.name

    def _stat_blob(self, path: Path, digest: str) -> os.stat_result:
        try:
            return os.stat(path)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.describe()}", digest=digest) from None


# ---- helpers --------------------------------------------------------------------------------------------


def _pieces(src) -> Iterator[memoryview]:
    """The file ``src`` in IO_BUFFER pieces read into one reused buffer (``write_hashed`` is done with each piece
    before it asks for the next)."""
    buf = bytearray(IO_BUFFER)
    view = memoryview(buf)
    while n := src.readinto(buf):
        yield view[:n]


def _discard(fd: int, staging: str) -> None:
    os.close(fd)
    _unlink_quiet(staging)


def _unlink_quiet(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _subdirs(directory: Path) -> Iterator[Path]:
    with os.scandir(directory) as entries:
        found = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and len(e.name) == 2]
    return iter(found)
