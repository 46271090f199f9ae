"""Who may read a world: the store's reads on behalf of one caller, and the checks on a world's visibility settings.

A world is private to its owner and admins (the default), shared with named principals, or public to every key
(``auth.can_read``). ``Reads(store, who)`` answers GetWorld, ListWorlds, GetSnapshot, LoadSnapshot, Log and
Heads for ``who``. A world ``who`` may not read is NotFound in the very words used for a world that does not
exist, and so is a snapshot of it: NOT_FOUND rather than PERMISSION_DENIED, so that a key cannot probe which
private worlds exist or confirm that a snapshot id (a content hash) is stored, as GitHub answers 404 for a
private repository. Lineage crosses worlds: ``log`` leaves out the ancestors ``who`` may not read (their ids stay
visible as parents of what it may read, as ids only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from multiverse.errors import InvalidArgument, NotFound
from multiverse.records import PRIVATE, SHARED, VISIBILITIES, SnapshotRecord, WorldRecord
from multiverse.state.spaces import check_name
from multiverse.store.auth import Principal, can_manage, can_read, reader_name

if TYPE_CHECKING:
    from multiverse.store.store import Loaded, Store

MAX_READERS = 256
DEFAULT_PAGE = 100  # Store.list_worlds' page when the caller names none (store._page)


def check_settings(visibility: str, readers: Sequence[str], *, field: str = "visibility",
                   readers_field: str = "readers") -> tuple[str, tuple[str, ...]]:
    """(visibility, readers sorted and each once) if they are valid settings, else InvalidArgument naming the field:
    one of ``VISIBILITIES``; readers (1 to ``MAX_READERS`` principal names) for a shared world and only for one."""
    if visibility not in VISIBILITIES:
        raise InvalidArgument(field, visibility, f"use one of {', '.join(VISIBILITIES)}")
    if visibility != SHARED and readers:
        raise InvalidArgument(readers_field, list(readers)[:8], f"name readers only with visibility {SHARED!r} "
                              f"(this sets {visibility!r}, which reads by ownership or by any key)")
    if visibility == SHARED and not 1 <= len(readers) <= MAX_READERS:
        raise InvalidArgument(readers_field, f"{len(readers)} names", f"share a world with 1 to {MAX_READERS} "
                              f"principals, or make it {PRIVATE!r}")
    for i, name in enumerate(readers):
        check_name(f"{readers_field}[{i}]", name)
    return visibility, tuple(sorted(set(readers)))


def unseen_world(who: Principal, name: str) -> NotFound:
    """What a caller hears of world ``name`` when it does not exist or ``who`` may not read it: the same words."""
    return NotFound(f"world {name!r} does not exist or is not shared with {who.name!r}: check the name, or ask its "
                    "owner to share it (multiverse world share)", world=name)


def unseen_snapshot(who: Principal, ref: str) -> NotFound:
    """What a caller hears of snapshot ``ref`` when there is none or ``who`` may not read its world."""
    return NotFound(f"no snapshot {ref!r} that {who.name!r} may read: check the id, or ask its world's owner to "
                    "share the world (multiverse world share)", snapshot=ref)


def shown(who: Principal, world: WorldRecord) -> WorldRecord:
    """``world`` as ``who`` sees it: the share list only for its owner and admins."""
    return world if can_manage(who, world) or not world.readers else replace(world, readers=())


class Reads:
    """The store's reads on behalf of ``who``: only what ``who`` may read (see the module docstring)."""

    def __init__(self, store: Store, who: Principal) -> None:
        self.store, self.who, self.reader = store, who, reader_name(who)

    def world(self, name: str) -> WorldRecord:
        """World ``name``, or NotFound when there is none or ``who`` may not read it."""
        return shown(self.who, self.store.readable_world(self.who, name))

    def worlds(self, *, space: str = "", owner: str = "", after: str = "",
               limit: int = 0) -> tuple[list[WorldRecord], str]:
        """One page of the worlds ``who`` may read, by name after ``after`` (``limit`` 0: 100), and the ``after``
        of the next page ("" after the last)."""
        found = self.store.list_worlds(space=space, owner=owner, after=after, limit=limit, reader=self.reader)
        full = len(found) == (limit or DEFAULT_PAGE)
        return [shown(self.who, w) for w in found], found[-1].name if full and found else ""

    def snapshot(self, ref: str) -> SnapshotRecord:
        """``Store.resolve`` among the snapshots of worlds ``who`` may read."""
        return self.store.resolve(ref, self.who)

    def load(self, ref: str, chunk_size: int = 0) -> Loaded:
        """``Store.load`` of a snapshot ``who`` may read (``chunk_size`` 0: the store's default, 1 MiB)."""
        return self.store.load(ref, chunk_size, self.who) if chunk_size else self.store.load(ref, who=self.who)

    def heads(self, world: str) -> dict[str, str]:
        self.store.readable_world(self.who, world)
        return self.store.meta.heads(world)

    def log(self, ref: str, *, limit: int = 100, cursor: str = "") -> tuple[list[SnapshotRecord], str]:
        """Ancestors of ``ref`` (which ``who`` must be able to read) that ``who`` may read, newest first, paged.
        The walk goes on through worlds ``who`` may not read, leaving them out, until the page is full."""
        start, want = self.snapshot(ref).id, limit or 100
        page, cursor = self.store.log(start, limit=limit, cursor=cursor)
        if self.reader is None:
            return page, cursor
        allowed: dict[str, bool] = {}

        def readable(record: SnapshotRecord) -> bool:
            if record.world not in allowed:
                allowed[record.world] = can_read(self.who, self.store.meta.get_world(record.world, deleted=True))
            return allowed[record.world]

        kept = [r for r in page if readable(r)]
        while cursor and len(kept) < want:  # each round walks as many as are missing, so hidden runs cost few rounds
            more, cursor = self.store.log(start, limit=want - len(kept), cursor=cursor)
            kept += [r for r in more if readable(r)]
        return kept, cursor
