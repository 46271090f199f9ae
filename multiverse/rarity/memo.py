"""Per-population memos of what reads derive from the whole population (every row's reference rarity, every row's
score, the ranking of each world filter): computed once per index version and kept for the few keys asked last.

Each key names the index (and calibration) version its value was computed at, so a value never outlives the
population it describes: a new version is a new key, and the old ones fall out. Readers run side by side (the
engine's read lock is shared), so the memo's bookkeeping takes a lock of its own; two readers missing the same
key at once both compute it (the same value) rather than wait for each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

KEPT = 6  # values kept per population: a few world filters of the current version, and its per-row arrays
_LOCK = threading.Lock()


def cached(memo: dict, key: Hashable, build: Callable[[], Any]) -> Any:
    """``memo[key]``, computed by ``build()`` first when missing; the least recently asked values go past KEPT."""
    with _LOCK:
        if key in memo:
            value = memo.pop(key)
            memo[key] = value  # most recently asked last
            return value
    value = build()
    with _LOCK:
        memo[key] = value
        while len(memo) > KEPT:
            memo.pop(next(iter(memo)))
    return value
