"""Pages of rare vectors for a reader: rarest first (the rarity service's ranked pages) or newest first.

Newest first walks the snapshots the reader may read by (created_at, id) descending and each one's vectors of the
kind asked by index, scoring each against its space's index as it is now. A page does bounded work: it looks at
no more than ``budget(limit)`` vectors, so a filter that few vectors pass (a high tier) answers a short page, or
none, with a cursor to go on from, rather than walking the whole store in one request.
"""

from __future__ import annotations

import base64
import json

from multiverse.errors import InvalidArgument, NotFound
from multiverse.gallery import queries
from multiverse.gallery.cards import VectorCard
from multiverse.rarity.calibrate import check_tier
from multiverse.rarity.types import KINDS, VectorId
from multiverse.rarity.visible import VisibleRarity
from multiverse.records import SnapshotRecord
from multiverse.store.auth import Principal, reader_name

MAX_LIMIT = 200
MAX_CURSOR = 512
SORTS = ("rarity", "recent")
SNAPSHOTS_PER_QUERY = 32


def budget(limit: int) -> int:
    """How many vectors one newest-first page may look at."""
    return 4 * limit + 64


def check_page(kind: str, tier: str, limit: int, cursor: str, sort: str = "rarity") -> None:
    """InvalidArgument naming the first bad parameter of a rare page."""
    if kind not in KINDS:
        raise InvalidArgument("kind", kind, f"use one of {', '.join(KINDS)}")
    if tier:
        check_tier(tier)
    if sort not in SORTS:
        raise InvalidArgument("sort", sort, f"use one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument("limit", limit, f"ask for 1 to {MAX_LIMIT} vectors a page")
    if len(cursor) > MAX_CURSOR:
        raise InvalidArgument("cursor", cursor, "pass the next_cursor of the previous page, or \"\" to start")


def by_rarity(visible: VisibleRarity, who: Principal, space: str, kind: str, *, tier: str, world: str, limit: int,
              cursor: str) -> tuple[list[VectorCard], str]:
    """Rarest first: VisibleRarity.top_rare's page as cards."""
    scores, after = visible.top_rare(who, space, kind, tier=tier, world=world, limit=limit, cursor=cursor)
    cards = [VectorCard.of(space, s) for s in scores if s.id is not None]
    return cards, after


def by_recency(visible: VisibleRarity, who: Principal, space: str, kind: str, *, tier: str, world: str,
               limit: int, cursor: str) -> tuple[list[VectorCard], str]:
    """Newest snapshots first, each one's vectors by index (see the module docstring). ``world``, when given, is
    one ``who`` may read (the caller checks)."""
    position = _decode(cursor) if cursor else None
    engine = visible.rarity.engine(space)
    reader = reader_name(who)
    cards: list[VectorCard] = []
    looked = visited = 0
    while True:
        found = queries.recent_snapshots(visible.meta, reader, space=space, world=world,
                                         at_or_before=position[:2] if position else None,
                                         limit=SNAPSHOTS_PER_QUERY)
        for record in found:
            start = position[2] if position and record.id == position[1] else 0
            visited += 1
            if visited > budget(limit):  # many snapshots without vectors of this kind
                return cards, _encode(record, start)
            for index in range(start, _count(record, kind)):
                if len(cards) == limit or looked >= budget(limit):
                    return cards, _encode(record, index)
                looked += 1
                try:
                    score = engine.rarity_of(VectorId(record.id, kind, index))
                except NotFound:  # not scored yet (or unscorable): the next vectors of it are not either
                    break
                if not tier or score.tier == tier:
                    cards.append(VectorCard.of(space, score, world=record.world))
            position = (record.created_at, record.id, 1 << 62)  # this one is done
        if len(found) < SNAPSHOTS_PER_QUERY:
            return cards, ""


def _count(record: SnapshotRecord, kind: str) -> int:
    return record.frame_count if kind == "frame" else record.player_count


def _encode(record: SnapshotRecord, index: int) -> str:
    raw = json.dumps([float(record.created_at).hex(), record.id, index]).encode()
    return "t" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[float, str, int]:
    try:
        if not cursor.startswith("t"):
            raise ValueError("not a recency cursor")
        raw = json.loads(base64.urlsafe_b64decode(cursor[1:] + "=" * (-len(cursor[1:]) % 4)))
        at, sid, index = float.fromhex(raw[0]), str(raw[1]), int(raw[2])
        if index < 0 or len(sid) > 64:
            raise ValueError("out of range")
        return at, sid, index
    except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise InvalidArgument("cursor", cursor, "pass the next_cursor of the previous page (of the same sort), "
                              "or \"\" to start") from exc
