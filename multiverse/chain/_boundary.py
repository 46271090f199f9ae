"""The one place where web3, eth-tester and node errors become ``multiverse.errors``.

A revert carries ABI-encoded data: a custom error of our contracts (or of the OpenZeppelin code they inherit),
``Error(string)`` or ``Panic(uint256)``. ``RevertDecoder`` turns it into ``Name(arg=value, ...)`` using the
contracts' ABIs and picks the domain error by the contract error's name. Messages are built here from decoded
values only, so nothing the transaction carried (let alone a key) can leak into them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
    Web3RPCError,
)

from multiverse.errors import (
    AlreadyExists,
    FailedPrecondition,
    MultiverseError,
    NotFound,
    PermissionDenied,
    Unavailable,
)

try:  # only the in-process adapter raises it
    from eth_tester.exceptions import TransactionFailed
except ImportError:  # pragma: no cover - eth-tester is optional for rpc-only deployments

    class TransactionFailed(Exception):  # type: ignore[no-redef]
        pass


ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)
PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x32: "array index out of bounds",
    0x41: "out of memory",
}
# Contract error name -> domain error; anything else is FailedPrecondition.
ERROR_KINDS: dict[str, type[MultiverseError]] = {
    "ERC721InvalidSender": AlreadyExists,  # raised by OpenZeppelin's _mint only: the token exists already
    "TokenAlreadyExists": AlreadyExists,  # Solady's ERC721 (RareVector)
    "AccessControlUnauthorizedAccount": PermissionDenied,
    "ERC721NonexistentToken": NotFound,
    "TokenDoesNotExist": NotFound,
}
_REVERTED = "execution reverted"


class RevertDecoder:
    """Selector table of every ``error`` in the given ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._errors[selector] = (item["name"], types, [i["name"] for i in item["inputs"]])

    def describe(self, data: bytes | str | None) -> tuple[str, str]:
        """(error name, readable text) of revert ``data``; a str is a reason already decoded by the client."""
        if data is None or data == b"":
            return "", "reverted without a reason"
        if isinstance(data, str):
            return "Error", data
        selector, body = data[:4], data[4:]
        try:
            if selector == ERROR_STRING:
                return "Error", decode(["string"], body)[0]
            if selector == PANIC:
                code = decode(["uint256"], body)[0]
                return "Panic", f"Panic(0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic')})"
            if selector in self._errors:
                name, types, names = self._errors[selector]
                values = decode(types, body)
                args = ", ".join(f"{n or f'arg{i}'}={_show(n, v)}" for i, (n, v) in enumerate(zip(names, values)))
                return name, f"{name}({args})"
        except Exception:  # noqa: BLE001, S110 - malformed data from a hostile or foreign contract: show it raw
            pass
        return "", f"unknown error 0x{data.hex()}"

    def error(self, what: str, data: bytes | str | None) -> MultiverseError:
        name, text = self.describe(data)
        kind = ERROR_KINDS.get(name, FailedPrecondition)
        return kind(f"{what} was refused by the contract: {text}", contract_error=name or None)


def revert_data(exc: BaseException) -> bytes | str | None:
    """The revert data inside a web3 or eth-tester exception: bytes, a decoded reason string, or None."""
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return data
        message = str(exc.message or "")
        return message.split(": ", 1)[1] if message.startswith(_REVERTED + ": ") else (message or None)
    if isinstance(exc, TransactionFailed):
        # eth-tester: "execution reverted: b'<raw bytes>'" for custom errors, or "...: <reason>" for Error(string)
        message = str(exc.args[0]) if exc.args else ""
        reason = message.split(": ", 1)[1] if message.startswith(_REVERTED + ": ") else message
        if reason[:2] in ("b'", 'b"'):
            try:
                value = ast.literal_eval(reason)
                if isinstance(value, bytes):
                    return value
            except (ValueError, SyntaxError):
                pass
        return reason or None
    return None


@contextmanager
def translate(what: str, where: str, decoder: RevertDecoder) -> Iterator[None]:
    """Map every foreign error raised inside to a ``MultiverseError`` about ``what`` (e.g. "mint 7f3a...")."""
    try:
        yield
    except MultiverseError:
        raise
    except (ContractLogicError, TransactionFailed) as exc:
        raise decoder.error(what, revert_data(exc)) from None
    except (requests.ConnectionError, requests.Timeout, ProviderConnectionError, RequestTimedOut, ConnectionError) as exc:
        raise Unavailable(f"{what}: the chain node at {where} cannot be reached ({type(exc).__name__}): check that it runs") from None
    except TimeExhausted:
        raise Unavailable(f"{what}: the transaction was not mined in time at {where}: retry later") from None
    except Web3RPCError as exc:
        message = str(exc.message or exc)
        if _REVERTED in message:
            raise decoder.error(what, _rpc_revert_data(exc)) from None
        raise FailedPrecondition(f"{what}: the node at {where} refused: {message}") from None


def _rpc_revert_data(exc: Web3RPCError) -> bytes | str | None:
    error = exc.rpc_response.get("error") if isinstance(exc.rpc_response, dict) else None
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            pass
    return str(exc.message or "") or None


def _abi_type(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[len("tuple") :]
    return kind


def _show(name: str, value: Any) -> str:
    if name == "tokenId" and isinstance(value, int):
        return f"{value:064x}"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return to_checksum_address(value)
    return str(value)
