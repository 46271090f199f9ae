"""The gallery's read model: every public read of the HTTP API, composed from the store's reads (worlds, snapshots,
lineage), the rarity service's (rare vectors, scores, neighbours) and the market's rows (tokens, listings, sales),
on behalf of one principal: ``PUBLIC`` (anonymous) sees public worlds only, as the visibility code says.

    g = Gallery(app.store, app.rarity, app.market)
    g.rare(PUBLIC, space="", kind="frame", tier="epic", sort="rarity", limit=50)   # Page of VectorCards
    g.vector(PUBLIC, snapshot, "frame", 3)                                          # Detail

A space with no scores yet answers empty pages, not errors; the space may be left out when there is one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from multiverse.errors import InvalidArgument, NotFound
from multiverse.gallery import detail, queries, rare
from multiverse.gallery.cards import Detail, NeighborCard, Page, VectorCard
from multiverse.gallery.records import listing_json, snapshot_json, space_json, token_json, world_json
from multiverse.rarity.types import VectorId
from multiverse.rarity.visible import VisibleRarity
from multiverse.records import SpaceRecord
from multiverse.state.spaces import check_name
from multiverse.store.auth import Principal, reader_name
from multiverse.store.visibility import Reads

PUBLIC = Principal("anonymous", "public")
NEIGHBORS = 8
MAX_PAGE = 200
WORLD_SNAPSHOTS = 50


class Gallery:
    """Reads for the gallery (see the module docstring). ``market``: the MarketStack, or None without a market."""

    def __init__(self, store: Any, rarity: Any, market: Any = None) -> None:
        self.store, self.rarity, self.market = store, rarity, market
        self.visible = VisibleRarity(rarity)

    # -- spaces and rare vectors ---------------------------------------------------------------------------
    def spaces(self) -> list[dict[str, Any]]:
        """Every registered space with how many vectors of each kind its index holds."""
        out = []
        for space in self.store.list_spaces():
            versions = self.rarity.engine(space.name).versions()
            out.append(space_json(space, {kind: v["n"] for kind, v in versions.items()}))
        return out

    def space(self, name: str) -> SpaceRecord | None:
        """The space ``name`` (InvalidArgument if malformed, NotFound if unknown); "" names the only one, and is
        None when no space is registered; InvalidArgument listing them when there are several."""
        if name:
            check_name("space", name)
            return self.store.get_space(name)
        spaces = self.store.list_spaces()
        if len(spaces) > 1:
            raise InvalidArgument("space", "", f"name a latent space: one of {', '.join(s.name for s in spaces)}")
        return spaces[0] if spaces else None

    def rare(self, who: Principal, *, space: str = "", world: str = "", kind: str = "frame", tier: str = "",
             sort: str = "rarity", cursor: str = "", limit: int = 50) -> Page:
        """Rare vectors of the worlds ``who`` may read, rarest first or newest first, one page at a time."""
        rare.check_page(kind, tier, limit, cursor, sort)
        found = self.space(space)
        if world:
            check_name("world", world)
            seen = Reads(self.store, who).world(world)
            if found is not None and seen.space != found.name:
                return Page(())
        if found is None or (kind == "player" and not found.player_dim):
            return Page(())
        walk = rare.by_rarity if sort == "rarity" else rare.by_recency
        cards, after = walk(self.visible, who, found.name, kind, tier=tier, world=world, limit=limit, cursor=cursor)
        return Page(tuple(self._with_tokens(cards)), after)

    def _with_tokens(self, cards: list[VectorCard]) -> list[VectorCard]:
        if self.market is None or not cards:
            return cards
        tokens = queries.tokens_of(self.store.meta, (c.key for c in cards))
        return [c if c.key not in tokens else replace(c, token_id=tokens[c.key]) for c in cards]

    def card(self, who: Principal, snapshot: str, kind: str, index: int) -> VectorCard:
        """One vector's card, NotFound (as for none) unless ``who`` may read its world."""
        record = self._snapshot(who, snapshot)
        try:
            space, score = self.visible.rarity_of(who, VectorId(record.id, kind, index))
        except NotFound:
            raise NotFound(f"no {kind} vector {index} of snapshot {snapshot} is scored: check the kind and index "
                           f"(the snapshot has {record.frame_count} frames and {record.player_count} players), or "
                           "wait until the rarity service has scored it", snapshot=snapshot) from None
        return self._with_tokens([VectorCard.of(space, score, world=record.world)])[0]

    def vector(self, who: Principal, snapshot: str, kind: str, index: int) -> Detail:
        """Everything the vector page shows (see ``Detail``)."""
        card = self.card(who, snapshot, kind, index)
        vid = VectorId(card.snapshot, kind, index)
        engine = self.rarity.engine(card.space)
        neighbors = []
        for n in self.visible.neighbors(who, vid, k=NEIGHBORS):
            try:
                score = engine.rarity_of(n.id)
            except NotFound:  # removed meanwhile
                continue
            neighbors.append(NeighborCard(VectorCard.of(card.space, score), n.distance))
        dist = detail.distribution(detail.calibration(engine, kind), card.score)
        reads = Reads(self.store, who)
        return Detail(card, tuple(neighbors), dist, detail.lineage(reads, reads.snapshot(card.snapshot)),
                      detail.token(self.market, card.token_id), detail.explanation(self.visible, who, vid))

    # -- worlds and snapshots ------------------------------------------------------------------------------
    def worlds(self, who: Principal, *, space: str = "", cursor: str = "", limit: int = 50) -> Page:
        """Worlds ``who`` may read, by name."""
        _limit(limit)
        if space:
            check_name("space", space)
        if cursor:
            check_name("cursor", cursor)
        found, after = Reads(self.store, who).worlds(space=space, after=cursor, limit=limit)
        return Page(tuple(world_json(w) for w in found), after)

    def world(self, who: Principal, name: str) -> dict[str, Any]:
        """A world: its newest snapshots (each with the picture of its last frame), its parents (the worlds its
        first snapshots came from) and its children (worlds crossed from it)."""
        check_name("world", name)
        reads = Reads(self.store, who)
        world = reads.world(name)
        snaps = queries.recent_snapshots(self.store.meta, reader_name(who), world=name, limit=WORLD_SNAPSHOTS)
        parents: dict[str, None] = {}
        for record in snaps:
            for pid in record.parents:
                try:
                    parent = reads.snapshot(pid)
                except NotFound:
                    continue
                if parent.world != name:
                    parents[parent.world] = None
        children = queries.children_of(self.store.meta, name, reader_name(who))
        return {"world": world_json(world), "snapshots": [snapshot_json(s) for s in snaps],
                "parents": list(parents), "children": children}

    def snapshot(self, who: Principal, ref: str) -> dict[str, Any]:
        return snapshot_json(self._snapshot(who, ref))

    def _snapshot(self, who: Principal, ref: str) -> Any:
        _hex_id("snapshot", ref)
        return Reads(self.store, who).snapshot(ref)

    # -- the market ----------------------------------------------------------------------------------------
    def _market(self) -> Any:
        if self.market is None:
            raise NotFound("this service runs without a market (MULTIVERSE_MARKET=off): no tokens here")
        return self.market

    def tokens(self, *, owner: str = "", space: str = "", tier: str = "", cursor: str = "", limit: int = 50) -> Page:
        _limit(limit)
        if cursor:
            _hex_id("cursor", cursor)
        rows, after = self._market().market.token_page(owner=owner, space=space, tier=tier, after=cursor, limit=limit)
        return Page(tuple(token_json(r) for r in rows), after)

    def token(self, token_id: str) -> dict[str, Any]:
        _hex_id("token_id", token_id.removeprefix("0x"))
        found = detail.token(self._market(), token_id.removeprefix("0x").lower())
        if found is None:
            raise NotFound(f"no token {token_id} has been claimed here: list tokens to see which exist",
                           token_id=token_id)
        return found

    def listings(self, *, token_id: str = "", seller: str = "", status: str = "active", limit: int = 50) -> Page:
        _limit(limit)
        rows = self._market().market.listings(token_id=token_id, seller=seller, status=status, limit=limit)
        return Page(tuple(listing_json(r) for r in rows))

    def sales(self, *, token_id: str = "", limit: int = 50) -> Page:
        _limit(limit)
        if token_id:
            _hex_id("token_id", token_id.removeprefix("0x"))
        market = self._market()
        found = queries.sales(self.store.meta, market.chain.chain_id(), token_id=token_id.removeprefix("0x").lower(),
                              limit=limit)
        return Page(tuple(found))


def _limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument("limit", limit, f"ask for 1 to {MAX_PAGE} items a page")


def _hex_id(field: str, value: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        raise InvalidArgument(field, value, "give the full id: 64 hex digits")

