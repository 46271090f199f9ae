"""One wallet's side of the market: what it owns, what it lists, and what it discovered and may claim.

    mine = Mine(market, rarity)          # rarity: the RarityService (its ``engine(space).top_rare``)
    held = mine.of(principal, limit=20)  # Holdings(address, tokens, listings, claimable)

What a wallet may claim follows ``Market.claim``'s rules: a vector is its to claim when its discovery (the
earliest committed holder of its bytes) names the wallet (the ``wallet`` in the player's record for a player
vector; the payout address of the world's owner for a frame), its tier is at least the market's ``min_tier``, and
no token holds it yet. Candidates come from the rarity engines, rarest first: frames of the worlds whose owner pays
out to the wallet, and player vectors of every world (each checked against the player record in its state's
header, read once per snapshot). The scan stops at the first vector below ``min_tier`` or after ``scan``
candidates per space and kind, so one call costs a bounded number of reads however large the store is.

A wallet sees its own discoveries in any world, private ones included: they are its own (its player, or frames
its designated payout wallet is owed), and claiming them is open to it whatever the world's visibility. Each
claimable carries the world's visibility so that a public page can leave out pictures it may not show.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from multiverse.errors import FailedPrecondition, InvalidArgument, NotFound
from multiverse.state.read import read_header
from multiverse.state.format import stored_info
from multiverse.store.auth import Principal

from .market import TIERS, Market, _wallet
from .rows import ListingRow, TokenRow
from .tables import payouts
from .vectors import VectorRef, player_wallet

DEFAULT_LIMIT = 20  # claimables per answer when the caller names none
MAX_LIMIT = 100
SCAN = 256  # candidates looked at per space and kind, rarest first
PAGE = 64  # rarity page size while scanning
MAX_WORLDS = 1000  # worlds paying out to one wallet that are searched for its frames


@dataclass(frozen=True)
class Claimable:
    """A vector ``score`` (a rarity.types.RarityScore: id, score, percentile, tier, world, ...) of latent space
    ``space`` that the wallet discovered and may claim; ``visibility``: its world's (private, shared, public)."""

    space: str
    score: Any
    visibility: str


@dataclass(frozen=True)
class Holdings:
    address: str
    tokens: list[TokenRow]  # owned now, as the indexer has followed the chain
    listings: list[ListingRow]  # active listings the wallet signed
    claimable: list[Claimable]  # rarest first


class Mine:
    """A wallet's holdings in ``market``; ``rarity``: the rarity service (None: nothing is scored, so nothing is
    claimable yet)."""

    def __init__(self, market: Market, rarity: Any | None, *, scan: int = SCAN) -> None:
        self.market, self.rarity, self.scan = market, rarity, scan

    def of(self, who: Principal, *, limit: int = 0) -> Holdings:
        """What wallet ``who`` owns, lists and may claim (at most ``limit`` claimables, 0: 20)."""
        wallet = _wallet(who, "see your tokens and discoveries")
        if not 0 <= limit <= MAX_LIMIT:
            raise InvalidArgument("limit", limit, f"use 1 to {MAX_LIMIT} (0 means {DEFAULT_LIMIT})")
        tokens = self.market.list_tokens(owner=wallet, limit=1000)
        listings = self.market.listings(seller=wallet, status="active", limit=1000)
        return Holdings(wallet, tokens, listings, self.claimable(wallet, limit or DEFAULT_LIMIT))

    def claimable(self, wallet: str, limit: int = DEFAULT_LIMIT) -> list[Claimable]:
        """The vectors ``wallet`` discovered, rarest first (by percentile, then score), at most ``limit``."""
        if self.rarity is None:
            return []
        wallet = wallet.lower()
        paid = self._paid_worlds(wallet)
        found: list[Claimable] = []
        wallets: dict[str, list[str | None]] = {}  # snapshot -> its players' wallets (one header read each)
        for space in self.market.meta.list_spaces():
            engine = self.rarity.engine(space.name)
            frames = frozenset(w for w, s in paid.items() if s == space.name)
            for kind, worlds in (("frame", frames), ("player", None)):
                if worlds is not None and not worlds:
                    continue
                for score in self._rarest(engine, kind, worlds):
                    if self._is_claimable(wallet, space.name, score, wallets):
                        found.append(Claimable(space.name, score, self._visibility(score.world)))
        found.sort(key=lambda c: (-c.score.percentile, -c.score.score, c.score.id))
        return found[:limit]

    # candidates --------------------------------------------------------------------------------------------
    def _rarest(self, engine: Any, kind: str, worlds: Collection[str] | None) -> Iterator[Any]:
        """Scores of ``kind`` at or above the market's ``min_tier``, rarest first, at most ``scan`` of them."""
        floor, cursor, left = TIERS.index(self.market.config.min_tier), "", self.scan
        while left > 0:
            page, cursor = engine.top_rare(kind, world=worlds, limit=min(PAGE, left), cursor=cursor)
            for score in page:
                if score.id is None or score.tier not in TIERS or TIERS.index(score.tier) < floor:
                    return
                yield score
            left -= len(page)
            if not cursor or not page:
                return

    def _is_claimable(self, wallet: str, space: str, score: Any, wallets: dict[str, list[str | None]]) -> bool:
        vid, market = score.id, self.market
        try:
            if vid.kind == "player":
                names = wallets.get(vid.snapshot)
                if names is None:
                    names = wallets[vid.snapshot] = self._player_wallets(vid.snapshot)
                if vid.index >= len(names) or (names[vid.index] or "").lower() != wallet:
                    return False  # not this wallet's player: no need to read the vector
            vector = market.read(VectorRef(space, vid.snapshot, vid.kind, vid.index))
            token = market.db.find_token(vector.token_id)
            if token is not None and token.owner:
                return False
            discoverer = market.discoverer_of(vector)
        except (NotFound, FailedPrecondition, InvalidArgument):  # gone, or no discovery recorded: not claimable
            return False
        return (discoverer or "").lower() == wallet

    def _player_wallets(self, snapshot: str) -> list[str | None]:
        record = self.market.meta.get_snapshot(snapshot)
        info = stored_info(read_header(self.market.blobs, record.state, record.state_size))
        return [player_wallet(p) if isinstance(p, dict) else None for p in info.players]

    def _paid_worlds(self, wallet: str) -> dict[str, str]:
        """world -> space of every world whose owner's payout address is ``wallet`` (at most MAX_WORLDS)."""
        p = payouts.c
        with self.market.db.meta.transaction() as conn:
            owners = conn.execute(sa.select(p.principal).where(sa.func.lower(p.address) == wallet)).scalars().all()
        worlds: dict[str, str] = {}
        for owner in owners:
            after = ""
            while len(worlds) < MAX_WORLDS:
                page = self.market.meta.list_worlds(owner=owner, after=after, limit=min(100, MAX_WORLDS - len(worlds)))
                worlds.update((w.name, w.space) for w in page)
                if len(page) < 100:
                    break
                after = page[-1].name
        return worlds

    def _visibility(self, world: str | None) -> str:
        try:
            return self.market.meta.get_world(world).visibility if world else "private"
        except NotFound:
            return "private"
