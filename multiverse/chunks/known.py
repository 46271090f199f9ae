"""What a store process remembers of chunks, so that a save on top of its world's head asks the metadata only about
the chunks that head does not hold (``multiverse.store.chunked.located``).

A chunk's check (``checked``: the dtype its values passed as, "" for raw bytes) is a property of its bytes, which
its address names, so ``Checks`` remembers it for any chunk this process checked or looked up, whether or not the
chunk is still stored. Whether a chunk is stored comes from the parent's manifest: the parent of a save that commits
is its world's head (the commit's compare-and-swap), and the collector keeps every head's chunks. ``located`` then
answers for those chunks from memory and looks up only the rest (those of a sliding window's chunks it did not send);
the commit's ``fence.hold`` touches and re-counts every stored chunk the save counts on but those it inherits from the
head it moves (held by the collector: multiverse/chunks/fence.py), so a chunk gone after all fails the save cleanly.
"""

from __future__ import annotations

from multiverse.kept import Kept

CHECKS_CACHED = 1 << 17  # addresses (about 20 MB): the windows of a few hundred game servers


class Checks(Kept[str, str]):
    """{chunk address: the check its bytes passed}, the most recent CHECKS_CACHED of them."""

    def __init__(self, size: int = CHECKS_CACHED) -> None:
        super().__init__(size)
