"""The rarity service's reads: each answered by the engine of the space asked about, as it is at that moment.

While a space's engine is being rebuilt (``service.py``), its reads answer from the engine that serves meanwhile
(the saved one, or an empty one when none could be loaded); every score names the index version and the N it
was computed against.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from multiverse.errors import InvalidArgument
from multiverse.rarity.calibrate import TIER_NAMES, check_tier
from multiverse.rarity.engine import RarityEngine
from multiverse.rarity.index import uses_gpu
from multiverse.rarity.types import KINDS, KindStats, Neighbor, RarityConfig, RarityScore, VectorId


SPACES_REMEMBERED = 1 << 16  # snapshots whose space ``space_of`` keeps at hand


class Answers:
    """Reads over ``_engines`` (one engine per space); mixed into ``RarityService``, which fills them."""

    meta: Any
    config: RarityConfig
    _lock: threading.RLock
    _engines: dict[str, RarityEngine]
    _watchers: list[tuple[queue.Queue, Callable[[str, RarityScore], bool]]]

    def engine(self, space: str) -> RarityEngine:
        """The engine of ``space`` ("" when exactly one space is registered)."""
        name = self._space_name(space)
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = RarityEngine.for_space(self.meta.get_space(name), self.config)
                self._engines[name] = engine
            return engine

    def _space_name(self, space: str) -> str:
        if space:
            return space
        names = sorted(s.name for s in self.meta.list_spaces())
        if len(names) != 1:
            raise InvalidArgument("space", "", f"name a latent space: one of {', '.join(names) or '(none registered)'}")
        return names[0]

    def space_of(self, snapshot: str) -> str:
        """The space of a stored snapshot (NotFound if none): remembered, since a snapshot never changes world nor
        a world its space (two metadata reads a RarityOf before)."""
        known: dict[str, str] = self.__dict__.setdefault("_spaces_of", {})
        space = known.get(snapshot)
        if space is None:
            space = self.meta.get_world(self.meta.get_snapshot(snapshot).world).space
            if len(known) >= SPACES_REMEMBERED:
                known.clear()
            known[snapshot] = space
        return space

    def score(self, space: str, kind: str, vectors: np.ndarray) -> list[RarityScore]:
        return self.engine(space).score(kind or "frame", vectors)

    def top_rare(self, space: str, kind: str = "", *, tier: str = "", world: str = "", limit: int = 50,
                 cursor: str = "") -> tuple[list[RarityScore], str]:
        return self.engine(space).top_rare(kind or "frame", tier=tier or None, world=world or None, limit=limit,
                                           cursor=cursor)

    def rarity_of(self, vid: VectorId) -> RarityScore:
        return self.engine(self.space_of(vid.snapshot)).rarity_of(vid)

    def neighbors(self, query: VectorId | np.ndarray, *, space: str = "", kind: str = "", k: int = 0,
                  world: str = "") -> list[Neighbor]:
        if isinstance(query, np.ndarray):
            engine = self.engine(space)
            return engine.neighbors(query, k or None, kind=kind or "frame", world=world or None)
        return self.engine(self.space_of(query.snapshot)).neighbors(query, k or None, world=world or None)

    def stats(self, space: str) -> dict[str, KindStats]:
        return self.engine(space).stats()

    @property
    def gpu(self) -> bool:
        """Whether the indexes search on a GPU (faiss-gpu for IVF or torch CUDA for the exact index)."""
        return uses_gpu(self.config.index)

    def watch(self, space: str = "", kind: str = "", tier: str = "", *,
              stop: Callable[[], bool] = lambda: False, poll: float = 0.25) -> Iterator[tuple[str, RarityScore]]:
        """(space, score) of each newly scored vector of ``space`` (any when ""), ``kind`` (any when "") at or
        above ``tier`` (default "rare"), until ``stop()`` is true or the consumer closes the generator."""
        if space:
            self.meta.get_space(space)
        if kind and kind not in KINDS:
            raise InvalidArgument("kind", kind, f"use one of {', '.join(KINDS)}, or leave it empty for both")
        floor = TIER_NAMES.index(check_tier(tier or "rare"))

        def wanted(name: str, s: RarityScore) -> bool:
            return ((not space or name == space) and (not kind or s.id is None or s.id.kind == kind)
                    and TIER_NAMES.index(s.tier) >= floor)

        q: queue.Queue = queue.Queue()
        with self._lock:
            self._watchers.append((q, wanted))
        try:
            while not stop():
                try:
                    yield q.get(timeout=poll)
                except queue.Empty:
                    continue
        finally:
            with self._lock:
                self._watchers.remove((q, wanted))
