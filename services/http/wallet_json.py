"""The wallet routes' JSON: request bodies (pydantic models with bounds, so the OpenAPI document is exact) and the
encoding of tokens, listings and claimable vectors. Translation only: no rule lives here.

Every uint256 travels as a decimal string (a JavaScript number is exact only below 2**53); token ids and snapshot
ids as hex. A field that fails its check answers 400 naming the field and saying how to fix it (the message is the
fix below, not pydantic's pattern text)."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from multiverse.chain import Listing
from multiverse.chain.values import address as checked_address
from multiverse.market import ListingRow, TokenRow
from multiverse.pictures.paths import picture_path

UINT_FIX = 'give a whole number in decimal as a string, at most 78 digits, e.g. "250000000000000000"'


def _text(pattern: str, max_length: int, fix: str, description: str) -> Any:
    """A string type checked against ``pattern`` (whole match) and ``max_length`` before pydantic's own checks, so
    that a bad value's error says ``fix``; the schema still carries the pattern and the bound."""
    rx = re.compile(pattern)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or len(value) > max_length or not rx.fullmatch(value):
            raise PydanticCustomError("invalid_value", fix)
        return value

    return Annotated[str, BeforeValidator(check),
                     Field(pattern=pattern, max_length=max_length, description=description,
                           json_schema_extra={"pattern": pattern})]  # kept in the schema beside the validator


Uint = _text(r"^[0-9]{1,78}$", 78, UINT_FIX, "a uint256 as a decimal string")
Address = _text(r"^0x[0-9a-fA-F]{40}$", 42, "give a 0x-prefixed 20-byte hex address (0x and 40 hex digits)",
                "an Ethereum address")
TokenId = _text(r"^(0x)?[0-9a-fA-F]{64}$", 66, "give the token id: the vector's sha256 as 64 hex digits",
                "a token id: the sha256 of the vector's canonical bytes, 64 hex digits")
SnapshotId = _text(r"^[0-9a-f]{64}$", 64, "give the snapshot's full id: 64 lower-case hex digits",
                   "a snapshot id, 64 lower-case hex digits")
Signature = _text(r"^0x[0-9a-fA-F]{130}$", 132,
                  "send the wallet's 65-byte signature as 0x and 130 hex digits", "a 65-byte signature, 0x hex")
SpaceName = _text(r"^[A-Za-z0-9._-]{0,200}$", 200, "name a latent space (letters, digits, . _ -), or leave it empty",
                  "a latent space's name; empty: the snapshot's")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInBody(Body):
    message: str = Field(min_length=1, max_length=4096, description="the EIP-4361 message text the wallet signed")
    signature: Signature


class ClaimBody(Body):
    snapshot: SnapshotId
    kind: Literal["frame", "player"]
    index: int = Field(ge=0, lt=2**32, description="the vector's row in the snapshot")
    space: SpaceName = ""


class PrepareBody(Body):
    token_id: TokenId
    price_wei: Uint
    expiry: int = Field(default=0, ge=0, lt=2**63, description="unix seconds; 0: the market's default")


class ListingBody(Body):
    """The signed listing exactly as prepared (POST /api/listings/prepare's ``listing``, its extra fields allowed
    and ignored): the struct the exchange checks the signature over."""

    model_config = ConfigDict(extra="ignore")
    seller: Address
    token: Address
    token_id: TokenId
    price: Uint
    fee_recipient: Address
    fee: Uint
    counter: Uint
    salt: Uint
    expiry: Uint
    token_nonce: Uint

    def to_listing(self) -> Listing:
        return Listing(
            seller=checked_address("listing.seller", self.seller),
            token=checked_address("listing.token", self.token),
            token_id=int(self.token_id.removeprefix("0x"), 16),
            price=int(self.price),
            fee_recipient=checked_address("listing.fee_recipient", self.fee_recipient),
            fee=int(self.fee),
            counter=int(self.counter),
            salt=int(self.salt),
            expiry=int(self.expiry),
            token_nonce=int(self.token_nonce),
        )


class SubmitBody(Body):
    listing: ListingBody
    signature: Signature


# answers ---------------------------------------------------------------------------------------------------
def vector_url(snapshot: str, kind: str, index: int) -> str:
    """The gallery page of a vector."""
    return f"/v/{snapshot}/{kind}/{int(index)}"


def token_json(t: TokenRow, contract: str) -> dict[str, Any]:
    return {
        "token_id": t.token_id, "chain_id": t.chain_id, "contract": contract, "owner": t.owner,
        "discoverer": t.discoverer, "space": t.space, "snapshot": t.snapshot, "kind": t.kind,
        "index": t.vector_index, "tier": t.tier, "percentile": t.percentile, "dtype": t.dtype,
        "shape": list(t.shape), "mint_tx": t.mint_tx, "created_at": t.created_at,
        "picture": picture_path(t.snapshot, t.kind, t.vector_index),
        "url": vector_url(t.snapshot, t.kind, t.vector_index),
    }


def listing_json(row: ListingRow, exchange: str) -> dict[str, Any]:
    """Every field of the signed listing (what the exchange's buy and cancel take, in this order), its signature,
    digest and status: enough for a browser to send the buy or cancel transaction itself."""
    x = row.listing
    return {
        "listing_hash": row.listing_hash, "digest": row.listing_hash, "chain_id": row.chain_id, "exchange": exchange,
        "seller": x.seller, "token": x.token, "token_id": f"{x.token_id:064x}", "price": str(x.price),
        "fee_recipient": x.fee_recipient, "fee": str(x.fee), "counter": str(x.counter), "salt": str(x.salt),
        "expiry": str(x.expiry), "token_nonce": str(x.token_nonce),
        "signature": row.signature, "status": row.status, "created_at": row.created_at,
    }


def typed_data_json(typed: dict[str, Any]) -> dict[str, Any]:
    """EIP-712 typed data with each uint256 of the message as a decimal string (wallets take those for
    eth_signTypedData_v4; a JSON number would lose the low digits of a token id in the browser)."""
    kinds = {f["name"]: f["type"] for f in typed["types"][typed["primaryType"]]}
    message = {k: str(v) if kinds.get(k, "").startswith("uint") else v for k, v in typed["message"].items()}
    return {**typed, "message": message}


def claimable_json(c: Any, visibility: str) -> dict[str, Any]:
    """A claimable vector as a VectorCard (token_id null: not minted yet)."""
    s = c.score
    return {
        "snapshot": s.id.snapshot, "kind": s.id.kind, "index": s.id.index, "space": c.space, "world": s.world,
        "score": _finite(s.score), "percentile": _finite(s.percentile), "tier": s.tier,
        "knn_distance": _finite(s.knn_distance),
        "index_version": s.index_version, "n": s.n, "picture": picture_path(s.id.snapshot, s.id.kind, s.id.index),
        "url": vector_url(s.id.snapshot, s.id.kind, s.id.index), "token_id": None, "visibility": visibility,
    }


def _finite(x: float) -> float | None:
    """JSON has no inf or NaN: such a figure reads null."""
    return float(x) if math.isfinite(x) else None
