"""The market: claims of rare vectors as tokens, token queries, downloads for the owner, signed listings.

Rules (the servicer only translates):
- ``claim`` (claims.py): a signed-in wallet mints a rare vector to itself, only if it is the vector's discoverer and
  the vector's tier is at least ``min_tier``. The token id is the sha256 of the vector's canonical bytes (vectors.py),
  so the same matrix is claimed once, whoever holds it; its discovery is the earliest committed snapshot that holds
  those bytes (discovery.py), whichever snapshot the claim names, and its discoverer is the wallet in that player's
  record for a player vector, the payout address of that snapshot's world's owner for a frame. The token's
  provenance names the discovery and commits to the rarity it was minted with (``verify.py`` checks it).
- ``download``: the full matrix, only for the wallet that owns the token on the chain now.
- ``prepare_listing`` / ``submit_listing``: EIP-712 typed data to sign, then the signed listing is stored after
  checking the signature (as the exchange will), the seller's ownership, the exchange's approval, the counter, the
  token's nonce and the amounts. A listing names its token's nonce, so it dies when the token moves (the indexer
  marks it ``stale``) and never revives, even if the token comes back to the seller.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from multiverse.chain import Chain, Listing, listing_digest, typed_data
from multiverse.errors import Corrupt, FailedPrecondition, InvalidArgument, PermissionDenied
from multiverse.store.auth import Principal
from multiverse.blobs.base import BlobStore
from multiverse.metadata.base import Metadata

from .claims import TIERS, Claims, RarityOf, _wallet
from .db import EventRow, MarketDb
from .discovery import Discoveries
from .rows import LISTING_STATUSES, ListingRow, TokenRow
from .signin import ROLE_WALLET, SignInConfig
from .vectors import Vector, VectorRef, read_vector

LOW_SALTS = 128  # the exchange keeps the used flags of salts below this in the seller's counter word
ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class MarketConfig:
    """``min_tier``: the lowest tier that may be claimed; ``fee_bps``/``fee_recipient``: the marketplace fee put
    into prepared listings; ``confirmations``: how far behind the head the indexer stays."""

    min_tier: str = "rare"
    fee_bps: int = 0
    fee_recipient: str = ZERO
    listing_ttl_s: float = 30 * 86_400.0
    confirmations: int = 0
    signin: SignInConfig = field(default_factory=SignInConfig)

    def __post_init__(self) -> None:
        if self.min_tier not in TIERS:
            raise InvalidArgument("market.min_tier", self.min_tier, f"use one of {', '.join(TIERS)}")
        if not 0 <= self.fee_bps <= 10_000:
            raise InvalidArgument("market.fee_bps", self.fee_bps, "use basis points between 0 and 10000")
        if self.fee_bps and self.fee_recipient == ZERO:
            raise InvalidArgument(
                "market.fee_recipient", self.fee_recipient, "name the address that receives the fee"
            )


@dataclass(frozen=True)
class Prepared:
    listing: Listing
    typed_data: dict[str, Any]
    digest: str  # 0x hex: what the seller signs, and the listing's key


class Market(Claims):
    def __init__(
        self,
        meta: Metadata,
        blobs: BlobStore,
        chain: Chain,
        db: MarketDb,
        rarity_of: RarityOf,
        config: MarketConfig = MarketConfig(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``meta`` and ``blobs``: the ports the market reads snapshots, worlds and states from."""
        self.meta, self.blobs, self.chain, self.db, self.rarity_of = meta, blobs, chain, db, rarity_of
        self.config, self.clock = config, clock
        self.discoveries = Discoveries(db.meta, blobs)

    def set_payout(self, who: Principal, principal: str, address: str) -> None:
        """The address that claims frames of ``principal``'s worlds. Admin, or a server for itself."""
        from multiverse.chain.values import address as _address

        if not who.admin and (who.role == ROLE_WALLET or who.name != principal):
            raise PermissionDenied(
                f"{who.name!r} may not set the payout address of {principal!r}: use an admin key or that server's key"
            )
        self.db.set_payout(principal, _address("address", address))

    def read(self, ref: VectorRef) -> Vector:
        """The vector ``ref`` names, by ranged reads of its state (header, then the row): unverified by the
        state's sha256, so its callers check the row's id (``vectors.read_vector`` says which does what)."""
        record = self.meta.get_snapshot(ref.snapshot)
        world = self.meta.get_world(record.world, deleted=True)  # a token outlives its world
        if not ref.space:
            ref = replace(ref, space=world.space)
        elif world.space != ref.space:
            raise InvalidArgument(
                "space",
                ref.space,
                f"snapshot {ref.snapshot} is in latent space {world.space!r}: name that space",
            )
        return read_vector(self.blobs, record.state, record.state_size, ref, record.world)

    # tokens ------------------------------------------------------------------------------------------------
    def get_token(self, token_id: str) -> TokenRow:
        return self.db.get_token(_token_id(token_id))

    def list_tokens(self, *, owner: str = "", space: str = "", tier: str = "", after: str = "",
                    limit: int = 0) -> list[TokenRow]:
        """Minted tokens by id after ``after``, at most ``limit`` (0: 100)."""
        return self.token_page(owner=owner, space=space, tier=tier, after=after, limit=limit)[0]

    def token_page(self, *, owner: str = "", space: str = "", tier: str = "", after: str = "",
                   limit: int = 0) -> tuple[list[TokenRow], str]:
        """One page of ``list_tokens`` and the ``after`` of the next page ("" after the last)."""
        if tier and tier not in TIERS:
            raise InvalidArgument("tier", tier, f"use one of {', '.join(TIERS)}, or leave it empty")
        limit = _page(limit)
        rows = self.db.list_tokens(owner=owner, space=space, tiers=[tier] if tier else [], after=after, limit=limit)
        return rows, rows[-1].token_id if len(rows) == limit else ""

    def verify(self, token_id: str):
        """Recompute and check the rarity the token was minted with (verify.py): a ``Verification``."""
        from .verify import verify_token

        return verify_token(self, token_id)

    def history(self, token_id: str, limit: int = 0) -> list[EventRow]:
        """The chain events of a token, oldest first (``limit`` 0: 100)."""
        return self.db.events(self.chain.chain_id(), _token_id(token_id), _page(limit))

    def download(self, who: Principal, token_id: str) -> tuple[TokenRow, bytes]:
        """(token, canonical bytes of its matrix), for the wallet that owns it on the chain now."""
        wallet = _wallet(who, "download a vector")
        token = self.get_token(token_id)
        owner = self.chain.owner_of(token.token_id)
        if owner.lower() != wallet.lower():
            raise PermissionDenied(
                f"token {token.token_id} belongs to {owner}; only its owner may download the matrix"
            )
        vector = self.read(VectorRef(token.space, token.snapshot, token.kind, token.vector_index))
        if hashlib.sha256(vector.data).hexdigest() != token.token_id:
            raise Corrupt(
                f"the stored vector of token {token.token_id} no longer hashes to its id",
                token_id=token.token_id,
            )
        return token, vector.data

    # listings ----------------------------------------------------------------------------------------------
    def prepare_listing(
        self, who: Principal, token_id: str, price: int, expiry: int = 0, salt: int = 0
    ) -> Prepared:
        seller = _wallet(who, "list a token")
        tid = _token_id(token_id)
        _uint("price", price)
        now = int(self.clock())
        expiry = expiry or now + int(self.config.listing_ttl_s)
        if expiry <= now:
            raise InvalidArgument(
                "expiry", expiry, f"give a unix time in the future (now is {now}), or 0 for the default"
            )
        fee = price * self.config.fee_bps // 10_000
        contracts = self.chain.contracts
        counter = self.chain.counter_of(seller)
        listing = Listing(
            seller,
            contracts.token,
            int(tid, 16),
            price,
            self.config.fee_recipient if fee else ZERO,
            fee,
            counter,
            salt or self._free_salt(seller, counter, f"{seller}{tid}{now}{price}"),
            expiry,
            self.chain.token_nonce(tid),
        )
        self._check_listing(listing)
        digest = listing_digest(listing, contracts.chain_id, contracts.exchange)
        return Prepared(
            listing, typed_data(listing, contracts.chain_id, contracts.exchange), "0x" + digest.hex()
        )

    def _free_salt(self, seller: str, counter: int, seed: str) -> int:
        """The listing's nonce: the smallest salt below 128 that no stored listing of the seller (same counter) and
        no fill or cancel on the exchange has used (the exchange keeps those in one word with the counter: the
        cheapest fills); past 128 such listings, a random 128-bit salt."""
        taken = self.db.salts(seller, counter)
        for candidate in range(LOW_SALTS):
            if candidate not in taken and not self.chain.salt_used(seller, candidate):
                return candidate
        return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big") | 1 << 127

    def submit_listing(self, who: Principal, listing: Listing, signature: bytes) -> ListingRow:
        seller = _wallet(who, "submit a listing")
        if listing.seller.lower() != seller.lower():
            raise PermissionDenied(
                f"the listing's seller is {listing.seller}; {seller} may submit only its own listings"
            )
        contracts = self.chain.contracts
        if listing.token.lower() != contracts.token.lower():
            raise InvalidArgument(
                "listing.token", listing.token, f"list tokens of this market's contract {contracts.token}"
            )
        self._check_listing(listing)
        digest = listing_digest(listing, contracts.chain_id, contracts.exchange)
        if not self.chain.is_valid_signature(listing.seller, digest, signature):
            raise InvalidArgument(
                "signature",
                "0x" + bytes(signature).hex(),
                "sign the typed data from PrepareListing with the seller's wallet (eth_signTypedData_v4)",
            )
        if self.chain.salt_used(listing.seller, listing.salt):
            raise FailedPrecondition(
                f"listing 0x{digest.hex()} or another of the seller's listings with salt {listing.salt} was filled or "
                "cancelled already: prepare a new one"
            )
        twin = self.db.salts(listing.seller, listing.counter).get(listing.salt)
        if twin is not None and twin != "0x" + digest.hex():
            raise FailedPrecondition(
                f"the seller's listing {twin} has salt {listing.salt} already (filling either would end both): "
                "prepare a new one"
            )
        row = ListingRow(
            "0x" + digest.hex(),
            contracts.chain_id,
            listing,
            "0x" + bytes(signature).hex(),
            "active",
            self.clock(),
        )
        self.db.put_listing(row)
        return row

    def listings(self, *, token_id: str = "", seller: str = "", status: str = "active",
                 limit: int = 0) -> list[ListingRow]:
        """Listings by age (``status`` "": every status; ``limit`` 0: 100)."""
        if status and status not in LISTING_STATUSES:
            raise InvalidArgument("status", status,
                                  f"use one of {', '.join(LISTING_STATUSES)}, or leave it empty for all")
        return self.db.listings(token_id=_token_id(token_id) if token_id else "", seller=seller, status=status,
                                limit=_page(limit))

    def _check_listing(self, listing: Listing) -> None:
        tid = f"{listing.token_id:064x}"
        for name in ("price", "fee", "counter", "salt", "expiry", "token_nonce"):
            _uint(name, getattr(listing, name))
        if listing.expiry <= self.clock():
            raise InvalidArgument("listing.expiry", listing.expiry, "give a unix time in the future")
        owner = self.chain.owner_of(tid)
        if owner.lower() != listing.seller.lower():
            raise PermissionDenied(f"token {tid} belongs to {owner}, not to the seller {listing.seller}")
        exchange = self.chain.contracts.exchange
        approved = (
            self.chain.is_approved_for_all(owner, exchange)
            or (self.chain.get_approved(tid) or "").lower() == exchange.lower()
        )
        if not approved:
            raise FailedPrecondition(
                f"the exchange {exchange} may not move token {tid}: call setApprovalForAll({exchange}, true) on the token first"
            )
        counter = self.chain.counter_of(listing.seller)
        if listing.counter != counter:
            raise FailedPrecondition(
                f"the listing was signed with counter {listing.counter} but the seller's counter is {counter}: prepare it again"
            )
        nonce = self.chain.token_nonce(tid)
        if listing.token_nonce != nonce:
            raise FailedPrecondition(
                f"the listing was signed with token nonce {listing.token_nonce} but token {tid} has moved since "
                f"(its nonce is {nonce}): prepare it again"
            )
        royalty = listing.price * self.chain.token_info(tid).royalty_bps // 10_000
        if listing.fee and listing.fee_recipient == ZERO:
            raise InvalidArgument(
                "listing.fee_recipient", listing.fee_recipient, "name who receives the fee, or set fee to 0"
            )
        if listing.fee + royalty > listing.price:
            raise InvalidArgument(
                "listing.price",
                listing.price,
                f"the royalty ({royalty}) and fee ({listing.fee}) exceed the price: raise it",
            )


def _token_id(value: str) -> str:
    v = value.removeprefix("0x").lower() if isinstance(value, str) else ""
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise InvalidArgument("token_id", value, "give the token id: the vector's sha256 as 64 hex digits")
    return v


def _uint(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**256:
        raise InvalidArgument(name, value, "give a whole number between 0 and 2**256 - 1")


def _page(limit: int) -> int:
    """A page size: 1 to 1000, 0 for the default of 100 (a negative LIMIT would be none at all in SQLite)."""
    if not 0 <= limit <= 1000:
        raise InvalidArgument("page_size", limit, "use 1 to 1000 (0 means 100)")
    return limit or 100
