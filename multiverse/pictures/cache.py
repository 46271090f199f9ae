"""What makes a picture cost a render once: ``Pointers`` (a picture's path -> the digest of its PNG in the blob
store, kept across restarts), ``HotBytes`` (an LRU of recently served PNGs, bounded in bytes) and ``KeyLocks``
(one lock per picture being rendered, so that concurrent first requests of one picture render it once).

The blob store is content addressed (a blob's key is its sha256), so the path -> digest pointers are kept beside
it: a directory of small files, one per picture, written atomically. A pointer never changes once written (a
picture's path names immutable content); losing one costs a render, never a wrong picture.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Pointers:
    """Picture path -> PNG digest, one file per path under ``root`` (``<2 hex>/<64 hex of the path's sha256>``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _file(self, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.root / name[:2] / name

    def get(self, key: str) -> str | None:
        """The digest kept for ``key``, or None (none kept, or a damaged file: the picture is rendered again)."""
        try:
            text = self._file(key).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return text if _DIGEST.match(text) else None

    def put(self, key: str, digest: str) -> None:
        path = self._file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w") as f:
            f.write(digest + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class HotBytes:
    """An LRU of byte strings by key, holding at most ``limit`` bytes in all (an item larger than that is not kept)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self._items: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, data: bytes, tag: str) -> None:
        if len(data) > self.limit:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old[0])
            self._items[key] = (data, tag)
            self.size += len(data)
            while self.size > self.limit:
                _, (dropped, _) = self._items.popitem(last=False)
                self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


class KeyLocks:
    """One lock per key while anyone holds or waits for it (the table holds only keys in use)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            lock = lock or threading.Lock()
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
