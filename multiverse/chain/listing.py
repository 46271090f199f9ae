"""Exchange listings: the EIP-712 typed data a seller signs, its digest and signature. Pure: no node involved.

The digest is what the seller signs (Exchange.hashListing); the exchange keys a listing's state (filled or cancelled)
by (seller, salt), both inside the digest.
The domain binds the chain id and the exchange's address, so a signature is good on one deployment only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from .config import Secret

DOMAIN_NAME = "Multiverse Exchange"
DOMAIN_VERSION = "1"
LISTING_FIELDS = (
    ("seller", "address"),
    ("token", "address"),
    ("tokenId", "uint256"),
    ("price", "uint256"),
    ("feeRecipient", "address"),
    ("fee", "uint256"),
    ("counter", "uint256"),
    ("salt", "uint256"),
    ("expiry", "uint256"),
)
LISTING_TYPE = "Listing(" + ",".join(f"{t} {n}" for n, t in LISTING_FIELDS) + ")"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class Listing:
    """A fixed-price offer to sell one ERC-721 token for ``price`` wei, of which ``fee`` goes to ``fee_recipient``
    and the ERC-2981 royalty to the token's receiver; the seller gets the rest. ``counter`` must equal the
    seller's counter on the exchange; ``expiry`` is a unix time in seconds. ``salt`` is the listing's nonce: the
    exchange fills or cancels (seller, salt) once, so listings of one seller need distinct salts; salts below 128
    are the cheapest to fill and are freed again by a counter bump (see contracts/Exchange.sol)."""

    seller: str
    token: str
    token_id: int
    price: int
    fee_recipient: str = ZERO_ADDRESS
    fee: int = 0
    counter: int = 0
    salt: int = 0
    expiry: int = 2**64 - 1

    def as_tuple(self) -> tuple[Any, ...]:
        """The Solidity struct, for contract calls."""
        return (
            to_checksum_address(self.seller),
            to_checksum_address(self.token),
            self.token_id,
            self.price,
            to_checksum_address(self.fee_recipient),
            self.fee,
            self.counter,
            self.salt,
            self.expiry,
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (field names as in Solidity)."""
        return dict(zip((n for n, _ in LISTING_FIELDS), self.as_tuple(), strict=True))


def domain(chain_id: int, exchange: str) -> dict[str, Any]:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id, "verifyingContract": to_checksum_address(exchange)}


def typed_data(listing: Listing, chain_id: int, exchange: str) -> dict[str, Any]:
    """The full typed data a wallet signs with ``eth_signTypedData_v4``."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Listing": [{"name": n, "type": t} for n, t in LISTING_FIELDS],
        },
        "primaryType": "Listing",
        "domain": domain(chain_id, exchange),
        "message": listing.message(),
    }


def domain_separator(chain_id: int, exchange: str) -> bytes:
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [keccak(text=DOMAIN_TYPE), keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), chain_id, exchange],
        )
    )


def listing_digest(listing: Listing, chain_id: int, exchange: str) -> bytes:
    """keccak256(0x1901 || domainSeparator || hashStruct(listing)): what the seller signs."""
    struct = keccak(encode(["bytes32", *(t for _, t in LISTING_FIELDS)], [keccak(text=LISTING_TYPE), *listing.as_tuple()]))
    return keccak(b"\x19\x01" + domain_separator(chain_id, exchange) + struct)


def sign_listing(listing: Listing, key: Secret | str, chain_id: int, exchange: str) -> bytes:
    """The 65-byte (r, s, v) signature of the listing by ``key`` (for EOAs, and for ERC-1271 wallets whose owner
    signs the same digest)."""
    raw = key.reveal() if isinstance(key, Secret) else key
    signed = Account.unsafe_sign_hash(listing_digest(listing, chain_id, exchange), raw)
    return bytes(signed.signature)
