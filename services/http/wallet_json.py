"""The wallet routes' JSON: request bodies (pydantic models with bounds, so the OpenAPI document is exact) and the
encoding of tokens, listings and claimable vectors. Translation only: no rule lives here.

Every uint256 travels as a decimal string (a JavaScript number is exact only below 2**53); token ids and snapshot
ids as hex. A field that fails its check answers 400 naming the field and saying how to fix it (the message is the
fix below, not pydantic's pattern text)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from multiverse.chain import Listing
from multiverse.chain.values import address as checked_address
from multiverse.gallery import records
from multiverse.gallery.cards import VectorCard, vector_url
from multiverse.market import ListingRow, TokenRow
from multiverse.market.mine import Claimable

UINT_FIX = 'give a whole number below 2**256 in decimal as a string, e.g. "250000000000000000"'


def _text(pattern: str, max_length: int, fix: str, description: str, uint: bool = False) -> Any:
    """A string type checked against ``pattern`` (whole match) and ``max_length`` (``uint``: and below 2**256) before
    pydantic's own checks, so that a bad value's error says ``fix``; the schema still carries the pattern and bound."""
    rx = re.compile(pattern)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or len(value) > max_length or not rx.fullmatch(value) or (
                uint and int(value) >= 2**256):
            raise PydanticCustomError("invalid_value", fix)
        return value

    return Annotated[str, BeforeValidator(check),
                     Field(pattern=pattern, max_length=max_length, description=description,
                           json_schema_extra={"pattern": pattern})]  # kept in the schema beside the validator


Uint = _text(r"^[0-9]{1,78}$", 78, UINT_FIX, "a uint256 (below 2**256) as a decimal string", uint=True)
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


# answers: the gallery's JSON of the same records (multiverse.gallery), with what a wallet needs besides ----------
def token_json(t: TokenRow, contract: str) -> dict[str, Any]:
    """A token as the public API shows it, with its contract and page."""
    return {**records.token_json(t), "contract": contract, "url": vector_url(t.snapshot, t.kind, t.vector_index)}


def listing_json(row: ListingRow, exchange: str) -> dict[str, Any]:
    """Every field of the signed listing (what the exchange's buy and cancel take), its signature, digest, status
    and the exchange's address: enough for a browser to send the buy or cancel transaction itself."""
    return {**records.listing_json(row), "digest": row.listing_hash, "exchange": exchange}


def typed_data_json(typed: dict[str, Any]) -> dict[str, Any]:
    """EIP-712 typed data with each uint256 of the message as a decimal string (wallets take those for
    eth_signTypedData_v4; a JSON number would lose the low digits of a token id in the browser)."""
    kinds = {f["name"]: f["type"] for f in typed["types"][typed["primaryType"]]}
    message = {k: str(v) if kinds.get(k, "").startswith("uint") else v for k, v in typed["message"].items()}
    return {**typed, "message": message}


def claimable_json(c: Claimable) -> dict[str, Any]:
    """A vector the wallet may claim, as a VectorCard (token_id null: not minted yet) with its world's visibility."""
    return {**VectorCard.of(c.space, c.score).to_json(), "visibility": c.visibility}
