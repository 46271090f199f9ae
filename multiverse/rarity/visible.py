"""The rarity service's answers for one caller: only the vectors of worlds the caller may read.

Who may read a world is ``multiverse.store.auth.can_read`` (its owner and admins; anyone it is shared with; any key when
it is public). For a caller other than an admin, TopRare, Neighbors and WatchRare leave out every vector of the
other worlds, and name each point by its first id (its discoverer) among the worlds the caller may read, so a
copy in a hidden world neither shows nor hides a readable one. RarityOf, a Neighbors query by the id of a hidden
vector, and a world filter naming a hidden world are NotFound in the words used for one that does not exist
(multiverse.store.visibility). Score (ad hoc vectors) and Stats answer with figures over the whole space and name no
stored vector. No answer carries a raw vector: that goes to a token's owner alone (the Market service).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np

from multiverse.errors import InvalidArgument, NotFound
from multiverse.rarity.types import Neighbor, RarityScore, VectorId
from multiverse.store.auth import Principal, can_read, reader_name
from multiverse.store.visibility import unseen_snapshot, unseen_world

DEFAULT_PAGE = 50  # TopRare's page when the caller names none
MAX_CURSOR = 1024  # a TopRare cursor is a score, a snapshot and an index: under 100 characters


class VisibleRarity:
    """Reads of a ``RarityService`` (``rarity``) on behalf of a caller; ``rarity.meta`` says who may read what."""

    def __init__(self, rarity: Any) -> None:
        self.rarity, self.meta = rarity, rarity.meta

    def top_rare(self, who: Principal, space: str, kind: str = "", *, tier: str = "", world: str = "",
                 limit: int = 0, cursor: str = "") -> tuple[list[RarityScore], str]:
        """``RarityService.top_rare`` over the worlds ``who`` may read (``world``: that one, if ``who`` may):
        one page (``limit`` 0: 50) and the cursor of the next ("" after the last)."""
        if len(cursor) > MAX_CURSOR:
            raise InvalidArgument("cursor", cursor, "pass the next_page_token of the previous page, or \"\" to start")
        worlds = self._worlds(who, world)
        return self.rarity.engine(space).top_rare(kind or "frame", tier=tier or None, world=worlds,
                                                  limit=limit or DEFAULT_PAGE, cursor=cursor)

    def rarity_of(self, who: Principal, vid: VectorId) -> tuple[str, RarityScore]:
        """(space, score) of a stored vector of a world ``who`` may read."""
        self._snapshot(who, vid.snapshot)
        return self.rarity.space_of(vid.snapshot), self.rarity.rarity_of(vid)

    def neighbors(self, who: Principal, query: VectorId | np.ndarray, *, space: str = "", kind: str = "",
                  k: int = 0, world: str = "") -> list[Neighbor]:
        """``RarityService.neighbors`` among the worlds ``who`` may read; a query by id must be one of theirs."""
        if isinstance(query, np.ndarray):
            engine, kind = self.rarity.engine(space), kind or "frame"
        else:
            self._snapshot(who, query.snapshot)
            engine, kind = self.rarity.engine(self.rarity.space_of(query.snapshot)), None
        return engine.neighbors(query, k or None, kind=kind, world=self._worlds(who, world))

    def watch(self, who: Principal, space: str = "", kind: str = "", tier: str = "", *,
              stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[str, RarityScore]]:
        """``RarityService.watch`` of the worlds ``who`` may read when each vector is scored."""
        everything = reader_name(who) is None
        for name, score in self.rarity.watch(space, kind, tier, stop=stop):
            if everything or (score.world and self._may_read(who, score.world)):
                yield name, score

    def _worlds(self, who: Principal, world: str) -> str | Collection[str] | None:
        """The engines' world filter: ``world`` when given (NotFound unless ``who`` may read it), else None for an
        admin (every world) or the names of every world ``who`` may read."""
        reader = reader_name(who)
        if world:
            if reader is not None and not self._may_read(who, world):
                raise unseen_world(who, world)
            return world
        return None if reader is None else self.meta.readable_worlds(reader)

    def _may_read(self, who: Principal, world: str) -> bool:
        try:
            return can_read(who, self.meta.get_world(world))
        except NotFound:
            return False

    def _snapshot(self, who: Principal, snapshot: str) -> None:
        """NotFound (as for none at all) unless ``snapshot`` is of a world ``who`` may read."""
        reader = reader_name(who)
        if reader is None:
            return  # an admin: the engine's own answer, as before
        try:
            self.meta.get_snapshot(snapshot, reader=reader)
        except NotFound:
            raise unseen_snapshot(who, snapshot) from None
