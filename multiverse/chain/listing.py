"""Exchange listings: the EIP-712 typed data a seller signs, its digest and signature, and the signature checks
the exchange makes, done the same way off-chain. Pure: no node involved.

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
DOMAIN_VERSION = "2"  # 2: listings carry the token's nonce (contracts/Exchange.sol)
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
    ("tokenNonce", "uint256"),
)
LISTING_TYPE = "Listing(" + ",".join(f"{t} {n}" for n, t in LISTING_FIELDS) + ")"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
ZERO_ADDRESS = "0x" + "00" * 20
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# ERC-1271: isValidSignature's selector, answered as a whole ABI word (the selector then 28 zero bytes)
ERC1271_MAGIC = bytes.fromhex("1626ba7e")


@dataclass(frozen=True)
class Listing:
    """A fixed-price offer to sell one ERC-721 token for ``price`` wei, of which ``fee`` goes to ``fee_recipient``
    and the ERC-2981 royalty to the token's receiver; the seller gets the rest. ``counter`` must equal the
    seller's counter on the exchange; ``expiry`` is a unix time in seconds. ``salt`` is the listing's nonce: the
    exchange fills or cancels (seller, salt) once, so listings of one seller need distinct salts; salts below 128
    are the cheapest to fill and are freed again by a counter bump (see contracts/Exchange.sol). ``token_nonce`` is
    the token's nonce (how often it moved since its mint) when signing: the listing fills only while it is still
    that, so it dies when the token leaves the seller, even if the token comes back."""

    seller: str
    token: str
    token_id: int
    price: int
    fee_recipient: str = ZERO_ADDRESS
    fee: int = 0
    counter: int = 0
    salt: int = 0
    expiry: int = 2**64 - 1
    token_nonce: int = 0

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
            self.token_nonce,
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


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """The address whose key made ``signature`` over ``digest``, under the exchange's rules (OpenZeppelin ECDSA):
    exactly 65 bytes r || s || v, v 27 or 28, 0 < r < n and 0 < s <= n/2 (low s: the high-s twin of a valid
    signature is refused, as on the chain). None for anything else."""
    signature = bytes(signature)
    if len(digest) != 32 or len(signature) != 65:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if v not in (27, 28) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        return None
    try:
        return Account._recover_hash(digest, vrs=(v, r, s))
    except Exception:  # noqa: BLE001  (a point off the curve raises several kinds: no signer)
        return None


def erc1271_accepts(answer: bytes) -> bool:
    """Whether an ``isValidSignature`` answer is the exchange's yes (OpenZeppelin SignatureChecker): at least one
    ABI word, equal to the magic value 0x1626ba7e followed by 28 zero bytes. Any other value, even one that starts
    with the magic value, is a no."""
    answer = bytes(answer)
    return len(answer) >= 32 and answer[:32] == ERC1271_MAGIC.ljust(32, b"\0")
