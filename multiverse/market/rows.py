"""The market's records: tokens and listings as the domain and the servicer see them. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from multiverse.chain import Listing

# stale: the token moved after the listing was signed, so the exchange will never fill it (contracts/Exchange.sol)
LISTING_STATUSES = ("active", "sold", "cancelled", "stale")


@dataclass(frozen=True)
class MintScoring:
    """The rarity a mint committed to beyond tier and percentile (multiverse.chain.provenance.MintRecord):
    the raw ``score``, the ``index_version`` it was computed at, the pinned index's manifest digest, the calibration
    blob's hash and the ``commitment`` the chain holds (64 hex each)."""

    score: float
    index_version: str
    index_digest: str
    calibration_hash: str
    commitment: str


@dataclass(frozen=True)
class TokenRow:
    """A claimed token. ``owner`` follows the indexed chain ("" when the chain no longer has it). ``scoring``: what
    the mint committed to; None for a token minted before mints committed to their rarity (migration 0008)."""

    token_id: str
    chain_id: int
    owner: str
    discoverer: str
    space: str
    snapshot: str
    kind: str
    vector_index: int
    tier: str
    percentile: float
    dtype: str
    shape: tuple[int, ...]
    mint_tx: str
    created_at: float
    scoring: MintScoring | None = None

    def values(self) -> dict[str, Any]:
        plain = {k: v for k, v in self.__dict__.items() if k != "scoring"}
        scoring = dict.fromkeys(SCORING_COLUMNS) if self.scoring is None else self.scoring.__dict__
        return {**plain, **scoring, "shape": json.dumps(list(self.shape), separators=(",", ":"))}

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> TokenRow:
        plain = {k: v for k, v in row.items() if k not in SCORING_COLUMNS}
        scoring = None
        if all(row.get(k) is not None for k in SCORING_COLUMNS):
            scoring = MintScoring(**{k: row[k] for k in SCORING_COLUMNS})
        return cls(**{**plain, "shape": tuple(json.loads(row["shape"])), "scoring": scoring})


SCORING_COLUMNS = tuple(MintScoring.__dataclass_fields__)


@dataclass(frozen=True)
class ListingRow:
    """A signed listing as stored. uint256 fields are ints here and decimal text in the database."""

    listing_hash: str
    chain_id: int
    listing: Listing
    signature: str  # 0x hex
    status: str
    created_at: float

    @property
    def token_id(self) -> str:
        return f"{self.listing.token_id:064x}"

    def values(self) -> dict[str, Any]:
        x = self.listing
        return {
            "listing_hash": self.listing_hash,
            "chain_id": self.chain_id,
            "token_id": self.token_id,
            "seller": x.seller,
            "price": str(x.price),
            "fee_recipient": x.fee_recipient,
            "fee": str(x.fee),
            "counter": str(x.counter),
            "salt": str(x.salt),
            "expiry": str(x.expiry),
            "token_nonce": str(x.token_nonce),
            "signature": self.signature,
            "status": self.status,
            "created_at": self.created_at,
        }

    @classmethod
    def of(cls, row: Mapping[str, Any], token: str = "") -> ListingRow:
        listing = Listing(
            seller=row["seller"],
            token=token or row.get("token", ""),
            token_id=int(row["token_id"], 16),
            price=int(row["price"]),
            fee_recipient=row["fee_recipient"],
            fee=int(row["fee"]),
            counter=int(row["counter"]),
            salt=int(row["salt"]),
            expiry=int(row["expiry"]),
            token_nonce=int(row.get("token_nonce") or 0),
        )
        return cls(
            row["listing_hash"],
            int(row["chain_id"]),
            listing,
            row["signature"],
            row["status"],
            row["created_at"],
        )
