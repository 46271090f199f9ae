"""Where a vector's picture is served. A snapshot id is the hash of its immutable record, so the path names content
that never changes: the picture is rendered once, kept in the blob store, and served with immutable caching."""

from __future__ import annotations

import re

from multiverse.errors import InvalidArgument

PREFIX = "/pictures"


def picture_path(snapshot: str, kind: str, index: int) -> str:
    """The gateway path of the picture of row ``index`` of kind ``kind`` (frame or player) of ``snapshot``."""
    return f"{PREFIX}/{snapshot}/{kind}/{int(index)}.png"


KINDS = ("frame", "player")
MAX_INDEX = 2**31  # the largest row index a picture path may name
_SNAPSHOT = re.compile(r"^[0-9a-f]{64}$")
_INDEX = re.compile(r"^[0-9]{1,10}$")


def check_ref(snapshot: str, kind: str, index: str | int) -> tuple[str, str, int]:
    """(snapshot, kind, index) of a picture path's parts, checked: InvalidArgument naming the part and the fix
    for a snapshot that is not 64 lower-case hex digits, a kind other than frame or player, or an index that is
    not a whole number in [0, 2**31]."""
    if not isinstance(snapshot, str) or not _SNAPSHOT.match(snapshot):
        raise InvalidArgument("snapshot", snapshot, "give the snapshot's full id: 64 lower-case hex digits")
    if kind not in KINDS:
        raise InvalidArgument("kind", kind, f"use one of {', '.join(KINDS)}")
    text = str(index)
    if isinstance(index, bool) or not _INDEX.match(text) or int(text) > MAX_INDEX:
        raise InvalidArgument("index", index, f"give the vector's row index as a whole number, 0 to {MAX_INDEX}")
    return snapshot, kind, int(text)
