"""Claims: a rare vector minted as a token to its discoverer, with the rarity it was minted at committed on chain.

Mixed into ``Market`` (market.py). Rules:
- only the vector's discoverer claims it: the wallet of its discovery, the earliest committed snapshot that holds its
  bytes (discovery.py), whichever snapshot the claim names; the token's provenance names the discovery;
- only a vector whose tier is at least ``min_tier``;
- never on a pruned snapshot, nor one whose discovery was pruned (multiverse/store/prune.py): a token names its
  discovery, whose state must stay downloadable forever, and a pruned state goes at the next garbage collection;
- when the market's rarity can pin (``PinningRarity``: the App's rarity service), the rarity is read from the pinned
  index and calibration, and the mint commits to it (multiverse/chain/provenance.py): ``verify.py`` recomputes it
  later. A rarity that cannot pin (a test's plain function) mints with no commitment, as tokens did before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from multiverse.blobs.base import BlobStore
from multiverse.chain import Chain, Provenance
from multiverse.chain.provenance import MintRecord, ppm
from multiverse.errors import AlreadyExists, Corrupt, FailedPrecondition, PermissionDenied
from multiverse.metadata.base import Metadata
from multiverse.store.auth import Principal

from .db import MarketDb
from .discovery import Discoveries
from .rows import MintScoring, TokenRow
from .signin import ROLE_WALLET
from .vectors import Vector, VectorRef

TIERS = ("common", "uncommon", "rare", "epic", "legendary")  # as multiverse.rarity names them, lowest first


class RarityOf(Protocol):
    def __call__(self, space: str, snapshot: str, kind: str, index: int) -> tuple[str, float]:
        """(tier, percentile 0-100) of row ``index`` of kind ``kind`` in ``snapshot`` of ``space``."""
        ...


@runtime_checkable
class PinningRarity(Protocol):
    """A ``RarityOf`` that can also pin a score for a mint (multiverse/market/wiring.py ``service_rarity``)."""

    def __call__(self, space: str, snapshot: str, kind: str, index: int) -> tuple[str, float]: ...

    def pin(self, space: str, snapshot: str, kind: str, index: int):
        """A ``multiverse.rarity.pin.Pinned``: score, percentile, tier, index version, index digest, calibration."""
        ...


class Claims:
    """What ``Market`` sets up and these methods use."""

    meta: Metadata
    blobs: BlobStore
    chain: Chain
    db: MarketDb
    rarity_of: RarityOf
    discoveries: Discoveries
    config: Any  # MarketConfig
    clock: Callable[[], float]
    read: Callable[[VectorRef], Vector]

    def discovery_of(self, vector: Vector) -> Vector:
        """The earliest committed holder of ``vector``'s bytes, read back (``vector`` itself when it is that one)."""
        ref, first = vector.ref, self.discoveries.first_holder(vector.token_id)
        if first is None:
            # a ranged read is not hash-checked: a damaged row hashes to an unrecorded id; tell that apart
            self.blobs.read(self.meta.get_snapshot(ref.snapshot).state, verify=True)
            raise FailedPrecondition(
                f"no committed snapshot is recorded as holding {ref.kind} {ref.index} of snapshot {ref.snapshot} (a "
                "commit that recorded none of its vectors): its discoverer is unknown, so it cannot be claimed",
                snapshot=ref.snapshot,
            )
        if first == (ref.snapshot, ref.kind, ref.index):
            return vector
        self._not_pruned(first.snapshot, f"{ref.kind} {ref.index} of snapshot {ref.snapshot} was discovered as "
                         f"{first.kind} {first.index} of snapshot {first.snapshot}, the earliest to hold its bytes, which")
        holder = self.read(VectorRef("", *first))
        if holder.token_id != vector.token_id:
            raise Corrupt(f"{first.kind} {first.index} of snapshot {first.snapshot} is recorded as holding vector "
                          f"{vector.token_id} but its bytes hash to {holder.token_id}", snapshot=first.snapshot)
        return holder

    def _not_pruned(self, snapshot: str, what: str) -> None:
        """FailedPrecondition if ``snapshot`` was pruned: its state is no longer kept, so no token may name it."""
        pruned_at = self.meta.get_snapshot(snapshot).pruned_at
        if pruned_at is not None:
            when = datetime.fromtimestamp(pruned_at, UTC).isoformat(timespec="seconds")
            raise FailedPrecondition(f"{what} was pruned at {when}: its state is no longer kept, so it cannot be "
                                     "claimed", snapshot=snapshot, pruned_at=when)

    def discoverer_of(self, vector: Vector) -> str | None:
        """The wallet that may claim the vector ``vector`` holds: that of its discovery (``discovery_of``)."""
        return self._wallet_of(self.discovery_of(vector))

    def _wallet_of(self, found: Vector) -> str | None:
        if found.ref.kind == "player":
            return found.player_wallet
        return self.db.payout(self.meta.get_world(found.world).owner)

    def claim(self, who: Principal, ref: VectorRef) -> TokenRow:
        wallet = _wallet(who, "claim a vector")
        self._not_pruned(ref.snapshot, f"snapshot {ref.snapshot}")
        vector = self.read(ref)
        ref = vector.ref  # with the space filled in when the request left it empty
        found = self.discovery_of(vector)
        at = found.ref
        where = f"{at.kind} {at.index} of snapshot {at.snapshot} (world {found.world!r})"
        discoverer = self._wallet_of(found)
        if discoverer is None:
            what = "the player's record names no wallet" if at.kind == "player" else "its owner has no payout address"
            raise FailedPrecondition(f"{ref.kind} {ref.index} of snapshot {ref.snapshot} was discovered as {where}, "
                                     f"which has no discoverer wallet: {what}", discovery_snapshot=at.snapshot)
        if discoverer.lower() != wallet.lower():
            raise PermissionDenied(
                f"only the discoverer {discoverer} may claim {ref.kind} {ref.index} of snapshot {ref.snapshot}, not "
                f"{wallet}: its bytes were first committed as {where}", discovery_snapshot=at.snapshot,
                discoverer=discoverer,
            )
        tier, percentile, scoring = self._rarity_at_mint(ref, at)
        if TIERS.index(tier) < TIERS.index(self.config.min_tier):
            raise FailedPrecondition(
                f"{ref.kind} {ref.index} of snapshot {ref.snapshot} is {tier} (percentile {percentile:.3f}); "
                f"only {self.config.min_tier} or rarer vectors can be claimed",
                tier=tier,
                percentile=percentile,
            )
        token_id = vector.token_id
        existing = self.db.find_token(token_id)
        if existing is not None and existing.owner:
            raise AlreadyExists(
                f"this matrix was claimed already as token {token_id} (owner {existing.owner})",
                token_id=token_id,
            )
        commitment = scoring.commitment if scoring else ""
        minted = self.chain.mint(wallet, token_id, Provenance(at.space, at.snapshot, at.index, ppm(percentile),
                                                               commitment))
        row = TokenRow(token_id, self.chain.chain_id(), minted.owner, minted.owner, at.space, at.snapshot, at.kind,
                       at.index, tier, float(percentile), vector.dtype, vector.shape, minted.tx_hash, self.clock(),
                       scoring)
        self.db.put_token(row)
        return self.db.get_token(token_id)

    def _rarity_at_mint(self, ref: VectorRef, at: VectorRef) -> tuple[str, float, MintScoring | None]:
        """(tier, percentile, what the mint commits to). With a pinning rarity, the discovery ``at`` (the vector the
        provenance names; the same point of the index as ``ref``, its bytes being equal) is pinned and scored."""
        if not isinstance(self.rarity_of, PinningRarity):
            tier, percentile = self.rarity_of(ref.space, ref.snapshot, ref.kind, ref.index)
            return tier, float(percentile), None
        p = self.rarity_of.pin(at.space, at.snapshot, at.kind, at.index)
        record = MintRecord(at.space, at.snapshot, at.kind, at.index, p.score, ppm(p.percentile), p.index_version,
                            p.index_digest, p.calibration_hash)
        scoring = MintScoring(p.score, p.index_version, p.index_digest, p.calibration_hash, record.commitment())
        return p.tier, p.percentile, scoring


def _wallet(who: Principal, action: str) -> str:
    if who.role != ROLE_WALLET:
        raise PermissionDenied(f"{who.name!r} is not a wallet: sign in with a wallet (EIP-4361) to {action}")
    return who.name
