"""Where a vector's picture is served. A snapshot id is the hash of its immutable record, so the path names content
that never changes: the picture is rendered once, kept in the blob store, and served with immutable caching."""

from __future__ import annotations

PREFIX = "/pictures"


def picture_path(snapshot: str, kind: str, index: int) -> str:
    """The gateway path of the picture of row ``index`` of kind ``kind`` (frame or player) of ``snapshot``."""
    return f"{PREFIX}/{snapshot}/{kind}/{int(index)}.png"
