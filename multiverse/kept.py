"""``Kept``: the ``size`` values put last, by key, safe to share between threads (what a process remembers of
records that do not change: chunk checks, discovery rows, a save's space and parent, checked API keys)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._kept: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._kept.get(key)

    def of(self, keys: Iterable[K]) -> dict[K, V]:
        """{key: value} for those of ``keys`` kept."""
        with self._lock:
            return {k: v for k in keys if (v := self._kept.get(k)) is not None}

    def put(self, key: K, value: V) -> V:
        self.put_all([(key, value)])
        return value

    def put_all(self, items: Iterable[tuple[K, V]]) -> None:
        with self._lock:
            for k, v in items:
                self._kept[k] = v
                self._kept.move_to_end(k)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
