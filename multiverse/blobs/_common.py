"""Helpers shared by the blob store adapters: digest checks and argument validation."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from multiverse.errors import Corrupt, InvalidArgument

SMALL_WRITE = 256 << 10  # chunks shorter than this are gathered into IO_BUFFER pieces before they are written
IO_BUFFER = 4 << 20  # 4 MiB: the copy/hash unit for files (fewer syscalls than CHUNK, still cache friendly)

_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def check_digest(value: object, field: str = "digest") -> str:
    """``value`` if it is a sha256 hex digest (64 lowercase hex characters); else InvalidArgument."""
    if not is_digest(value):
        raise InvalidArgument(
            field,
            value,
            "pass the blob's sha256 as 64 lowercase hex characters (hashlib.sha256(data).hexdigest())",
        )
    return value  # type: ignore[return-value]


def check_read_args(chunk_size: int, offset: int) -> None:
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidArgument("chunk_size", chunk_size, "pass a positive number of bytes, e.g. 1 MiB")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgument("offset", offset, "pass a byte offset >= 0")


def check_range(offset: int, length: int) -> None:
    """A ranged read's arguments: a byte offset and a length, both non-negative integers."""
    for name, value in (("offset", offset), ("length", length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(name, value, f"pass a byte {name} >= 0")


def check_offset(offset: int, size: int, digest: str) -> None:
    if offset > size:
        raise InvalidArgument(
            "offset",
            offset,
            f"pass an offset between 0 and the blob's size {size}",
            reason=f"offset={offset} is past the end of blob {digest} ({size} bytes)",
        )


def mismatch(expected: str, actual: str, what: str = "content") -> Corrupt:
    """The error for bytes that do not hash to the digest they were given (or stored) under."""
    return Corrupt(
        f"{what} hashes to sha256 {actual} but digest {expected} was expected: nothing was stored; "
        "send the same bytes the digest was computed from",
        expected=expected,
        actual=actual,
    )


def stored_mismatch(expected: str, actual: str, where: str) -> Corrupt:
    return Corrupt(
        f"stored blob {expected} in {where} hashes to {actual}: its bytes were damaged; "
        "restore it from a replica or backup",
        expected=expected,
        actual=actual,
    )


def byte_view(data: object, field: str) -> memoryview:
    if isinstance(data, (bytes, bytearray)):
        return memoryview(data)
    if isinstance(data, memoryview):
        return data if data.format == "B" and data.c_contiguous else memoryview(data.tobytes())
    raise InvalidArgument(field, type(data).__name__, "pass bytes (or bytearray/memoryview)")


def write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_SFR = _sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing bytes [offset, offset + length) of ``fd`` to the disk now (Linux
    ``sync_file_range(SYNC_FILE_RANGE_WRITE)``: asynchronous, no promise). The fsync that seals the file still
    gives durability; it just finds less left to wait for. Elsewhere, or if the call fails, nothing happens."""
    if _SFR is not None:
        _SFR(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def write_hashed(fd: int, chunks: Iterable[bytes], *, writeback: bool) -> tuple[str, int]:
    """Write ``chunks`` to ``fd`` and return (their sha256, bytes written), in pieces of up to IO_BUFFER bytes.
    Each piece is written and hashed before the next chunk is asked for, so a caller may reuse its buffer. With
    ``writeback``, each piece's writeback to the disk starts as soon as it is written (``start_writeback``).
    One thread: writing on a helper thread while this one hashed was faster when the machine was quiet
    (64 MB in 38 ms against 50) but took 170-210 ms in one put out of three on this 2-core machine."""
    h = hashlib.sha256()
    offset = 0
    gathered = bytearray()  # small chunks (a pack's 18 KiB frames), copied together: one write and writeback a piece

    def put(piece: bytes | bytearray | memoryview) -> None:
        nonlocal offset
        h.update(piece)
        write_all(fd, piece)
        if writeback:
            start_writeback(fd, offset, len(piece))
        offset += len(piece)

    for chunk in chunks:
        view = byte_view(chunk, "chunks")
        if len(view) < SMALL_WRITE:
            gathered += view
            if len(gathered) >= IO_BUFFER:
                put(gathered)
                gathered = bytearray()
            continue
        if gathered:
            put(gathered)
            gathered = bytearray()
        for start in range(0, len(view), IO_BUFFER):
            put(view[start:start + IO_BUFFER])
    if gathered:
        put(gathered)
    return h.hexdigest(), offset


def fill_from_chunks(chunks: Iterable[bytes], buffer: bytearray | memoryview, digest: str) -> int:
    """Copy ``chunks`` (a verified read of blob ``digest``) into the start of ``buffer``; returns the byte count.
    ``Corrupt`` if they do not fit: the caller sized ``buffer`` from the metadata's record of the blob."""
    view = memoryview(buffer).cast("B")
    pos = 0
    for chunk in chunks:
        if pos + len(chunk) > len(view):
            raise too_big(digest, len(view))
        view[pos:pos + len(chunk)] = chunk
        pos += len(chunk)
    return pos


def too_big(digest: str, room: int) -> Corrupt:
    return Corrupt(f"blob {digest} holds more than the {room} bytes its record says: restore it from a replica "
                   "or a backup", digest=digest)


def hash_chunks(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(byte_view(chunk, "chunks"))
    return h.hexdigest()


def hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    buf = bytearray(IO_BUFFER)
    view = memoryview(buf)
    while n := os.readv(fd, [buf]):
        h.update(view[:n])
    return h.hexdigest()


def hash_file(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return hash_fd(fd)
    finally:
        os.close(fd)


def stat_source(path: Path) -> os.stat_result:
    """``lstat`` of a file to store; InvalidArgument naming ``path`` when it is missing or a directory."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidArgument("path", str(path), "pass the path of an existing file") from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidArgument("path", str(path), "pass a file, not a directory")
    return os.lstat(path)
