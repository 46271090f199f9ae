"""What a store process keeps of the records a save reads, where what it reads of them never changes, so that a save
asks the metadata only what may have changed (the commit's own transaction):

- a latent space never changes once registered (``put_space`` refuses other settings under its name);
- a world's name, owner and space never change; its visibility may, and it may be deleted. A save reads only who
  may write it (its owner or an admin, whatever its visibility); the commit re-reads the world in its transaction,
  so a save to a world deleted meanwhile still fails, in the same words;
- a snapshot's id, state and generation never change (its ``pruned_at`` may). A save reads those of its parent,
  which the commit's compare-and-swap checks is its world's head, and nothing prunes a head.

Each is kept for the FACTS_KEPT names used last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from multiverse.kept import Kept
from multiverse.metadata.base import Metadata
from multiverse.records import SnapshotRecord, SpaceRecord, WorldRecord

FACTS_KEPT = 4096
R = TypeVar("R")


def _through(kept: Kept[str, R], key: str, read: Callable[[str], R]) -> R:
    found = kept.get(key)
    return found if found is not None else kept.put(key, read(key))


class Facts:
    """The records a save reads, kept (see the module docstring)."""

    def __init__(self, meta: Metadata, size: int = FACTS_KEPT) -> None:
        self.meta = meta
        self._spaces: Kept[str, SpaceRecord] = Kept(size)
        self._worlds: Kept[str, WorldRecord] = Kept(size)
        self._snapshots: Kept[str, SnapshotRecord] = Kept(size)

    def space(self, name: str) -> SpaceRecord:
        return _through(self._spaces, name, self.meta.get_space)

    def writer_world(self, name: str) -> WorldRecord | None:
        """World ``name`` as a save last found it (only its owner and space may be relied on), or None."""
        return self._worlds.get(name)

    def saw_world(self, world: WorldRecord) -> None:
        self._worlds.put(world.name, world)

    def parent(self, snapshot_id: str) -> SnapshotRecord:
        """Snapshot ``snapshot_id`` for a save on top of it (only its id, world, state and generation may be relied
        on); NotFound as ``get_snapshot``."""
        return _through(self._snapshots, snapshot_id, self.meta.get_snapshot)

    def saved(self, record: SnapshotRecord) -> None:
        """``record`` was committed: the next save of its world is on top of it."""
        self._snapshots.put(record.id, record)
