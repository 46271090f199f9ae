"""Values crossing the chain port: checks and conversions of addresses, token ids, hashes and event arguments."""

from __future__ import annotations

import re
from typing import Any

from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes

from multiverse.errors import InvalidArgument

from .base import SPACE_BYTES

_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def encode_abi_words(digest: bytes, signature: bytes) -> str:
    """ABI encoding of ``(bytes32, bytes)``, the arguments of ERC-1271 ``isValidSignature``, as hex."""
    from eth_abi import encode

    return encode(["bytes32", "bytes"], [digest, signature]).hex()


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


def _address(field: str, value: Any) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidArgument(field, value, "give a 0x-prefixed 20-byte hex address")
    return to_checksum_address(value)


def _token_id(value: Any, field: str = "token_id") -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**256:
        return value
    if isinstance(value, str) and _HEX64.match(value):
        return int(value.removeprefix("0x"), 16)
    raise InvalidArgument(field, value, "give the sha256 of the vector's canonical bytes as 64 hex digits")


def _bytes32(field: str, value: Any) -> bytes:
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return bytes(value)
    if isinstance(value, str) and _HEX64.match(value):
        return bytes.fromhex(value.removeprefix("0x"))
    raise InvalidArgument(field, value, "give 32 bytes as 64 hex digits")


def _admin(admin: Any, minter: str) -> str:
    """The token admin to deploy with: named, and not the minter (whose key signs on a server)."""
    if not admin:
        raise InvalidArgument(
            "chain.admin",
            admin,
            "name the token's admin address (MULTIVERSE_CHAIN_ADMIN), a key kept apart from the minter's: it "
            "appoints minters and sets the metadata URIs",
        )
    checked = _address("chain.admin", admin)
    if checked == minter:
        raise InvalidArgument(
            "chain.admin",
            checked,
            "use an address other than the minter's: a minter key that is also the admin could appoint more "
            "minters and re-point every token's metadata",
        )
    return checked


def _space(name: Any) -> bytes:
    data = name.encode("utf-8") if isinstance(name, str) else b""
    if not data or len(data) > SPACE_BYTES or b"\0" in data:
        raise InvalidArgument(
            "provenance.space", name, f"give the latent space's name: 1 to {SPACE_BYTES} UTF-8 bytes, no NUL"
        )
    return data.ljust(SPACE_BYTES, b"\0")


def _id_hex(token_id: int) -> str:
    return f"{token_id:064x}"


def _hex(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


address = _address  # the public name, for callers outside the chain package
