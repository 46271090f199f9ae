"""Which JSON-RPC methods the wallet port serves, and what its answers look like. No sockets here: ``RpcGate``
takes one decoded JSON-RPC request object and returns one response object; ``http_rpc`` is the HTTP shell.

A browser wallet signs locally and needs reads, fee data, ``eth_sendRawTransaction``, receipts and logs; nothing
else is served. The in-process EVM's test methods (``eth_sendTransaction`` from its unlocked accounts,
``evm_revert``, ``testing_timeTravel``, ...) would let anyone who reaches the port spend the dev accounts, undo
confirmed sales or expire every listing, so they answer -32601 unless the development switch is on.

Errors follow JSON-RPC 2.0 as nodes send them: ``{"code": int, "message": str, "data"?}``; a revert is code 3,
"execution reverted", with the revert bytes as ``data`` (what geth and anvil send, and what web3 clients decode).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable
from typing import Any

# What a wallet (MetaMask, viem, ethers, web3.py) asks a node for.
WALLET_METHODS = frozenset(
    {
        "eth_chainId",
        "net_version",
        "net_listening",
        "web3_clientVersion",
        "eth_syncing",
        "eth_accounts",  # answered [] here: the port holds no unlocked account
        "eth_blockNumber",
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_call",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "eth_sendRawTransaction",
    }
)
log = logging.getLogger("multiverse.chain.rpc")
DEV_SWITCH = "MULTIVERSE_CHAIN_RPC_DEV_METHODS"
METHOD_NOT_FOUND, INVALID_REQUEST, INVALID_PARAMS, SERVER_ERROR, REVERTED = -32601, -32600, -32602, -32000, 3
# Gas of one eth_call or eth_estimateGas: the market's largest wallet transaction, a sale whose three payments
# get at most 100,000 gas each, needs well under it. py-evm runs about 1.3M gas a second under the chain's lock:
# a loop called with the block's 30M gas held every other caller, the market's own writes too, for 20-25 s; at
# this cap a call takes at most about 0.5 s and an estimate (a dozen runs) about 6 s.
CALL_GAS_CAP = 500_000
MAX_MESSAGE = 1000  # characters of an error message (they may echo the caller's input)
_SHOWN_NAME = 80  # characters of a refused method's name shown back

MakeRequest = Callable[[str, list[Any]], Any]


def error(code: int, message: str, data: str | None = None, request_id: Any = None) -> dict[str, Any]:
    """A JSON-RPC 2.0 error response: integer ``code``, bounded ``message``, optional hex ``data``."""
    body: dict[str, Any] = {"code": int(code), "message": _bounded(message)}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


class RpcGate:
    """``RpcGate(make_request, chain_id).answer({"jsonrpc": "2.0", "id": 1, "method": ..., "params": [...]})``.

    ``make_request(method, params)`` is the eth-tester provider behind its formatting middleware (called under the
    chain's lock by the caller's ``call`` wrapper); ``dev_methods`` serves every method the provider knows."""

    def __init__(
        self,
        make_request: MakeRequest,
        chain_id: int,
        *,
        dev_methods: bool = False,
        call: Callable[[Callable[[], Any]], Any] = lambda f: f(),
    ) -> None:
        self._make_request = make_request
        self._chain_id = int(chain_id)
        self._dev = bool(dev_methods)
        self._call = call

    def answer(self, request: Any) -> dict[str, Any]:
        """The response object for one request object (never raises)."""
        try:
            return self._answer(request)
        except Exception as exc:  # noqa: BLE001  # a fault of ours, answered (and logged) rather than dropped
            log.exception("JSON-RPC request failed")
            request_id = request.get("id") if isinstance(request, dict) else None
            request_id = request_id if isinstance(request_id, str | int | float) else None
            return error(SERVER_ERROR, f"the request failed: {type(exc).__name__}", request_id=request_id)

    def _answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            return error(INVALID_REQUEST, f"invalid request: expected a JSON object, got {_kind(request)}")
        request_id = request.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, str | int | float | None):
            shown = _kind(request_id)
            return error(INVALID_REQUEST, f"invalid request: id must be a string, a number or null, not {shown}")
        method, params = request.get("method"), request.get("params", [])

        def refuse(code: int, message: str) -> dict[str, Any]:
            return error(code, message, request_id=request_id)

        if not isinstance(method, str):
            return refuse(INVALID_REQUEST, f"invalid request: method must be a string, not {_kind(method)}")
        if not self._dev and method not in WALLET_METHODS:
            shown = method if len(method) <= _SHOWN_NAME else method[:_SHOWN_NAME] + "..."
            return refuse(
                METHOD_NOT_FOUND,
                f"method not found: {shown!r} is not served on this port. Wallets sign locally and send "
                f"eth_sendRawTransaction; test methods need {DEV_SWITCH}=on on a development machine",
            )
        if params is None:
            params = []
        if not isinstance(params, list):
            return refuse(INVALID_PARAMS, f"invalid params for {method}: give a JSON array, not {_kind(params)}")
        local = self._local(method)
        if local is not None:
            return {"jsonrpc": "2.0", "id": request_id, "result": local}
        if method in ("eth_call", "eth_estimateGas") and not self._dev:
            params = _gas_capped(params)
            if method == "eth_estimateGas" and params and isinstance(params[0], dict):
                # eth-tester's search runs the call a dozen times from the block's gas limit down, whatever gas it
                # names: a call that fails within the cap (a loop, a revert) is answered after one capped run.
                screen = self._answer({**request, "method": "eth_call", "params": [params[0], "latest"]})
                if "error" in screen:
                    return screen
        try:
            response = self._call(lambda: self._make_request(method, params))
        except Exception as exc:  # noqa: BLE001  # the provider's refusal of this caller's input, answered as such
            return self._refusal(method, exc, request_id)
        if not isinstance(response, dict):
            return refuse(SERVER_ERROR, f"{method}: the chain gave no answer")
        if "error" in response:
            raw = response["error"]
            message = raw.get("message") if isinstance(raw, dict) else raw
            code = raw.get("code") if isinstance(raw, dict) else None
            return refuse(code if type(code) is int else SERVER_ERROR, f"{method}: {message}")
        return {"jsonrpc": "2.0", "id": request_id, "result": quantities(response.get("result"))}

    def _local(self, method: str) -> Any:
        """Answers the port gives itself (None: ask the chain)."""
        if method == "net_version":
            return str(self._chain_id)  # the chain id in decimal, as geth and anvil answer (eth-tester says "1")
        if method == "eth_accounts" and not self._dev:
            return []
        return None

    def _refusal(self, method: str, exc: Exception, request_id: Any) -> dict[str, Any]:
        reverted = _revert(exc)
        if reverted is not None:
            message, data = reverted
            return error(REVERTED, message, data, request_id)
        kind = type(exc).__name__
        if kind == "ValidationError" or isinstance(exc, TypeError | ValueError | KeyError | IndexError):
            return error(INVALID_PARAMS, f"invalid params for {method}: {kind}: {exc}", request_id=request_id)
        return error(SERVER_ERROR, f"{method} failed: {kind}: {exc}", request_id=request_id)


def _gas_capped(params: list[Any]) -> list[Any]:
    """``params`` with the call's gas at most CALL_GAS_CAP (set to it when absent), as geth's RPC gas cap does."""
    if not params or not isinstance(params[0], dict):
        return params
    call = dict(params[0])
    gas = call.get("gas")
    try:
        too_much = gas is None or (int(gas, 16) if isinstance(gas, str) else int(gas)) > CALL_GAS_CAP
    except (TypeError, ValueError):
        too_much = False  # not a quantity: the chain refuses it as invalid params
    if too_much:
        call["gas"] = hex(CALL_GAS_CAP)
    return [call, *params[1:]]


def _revert(exc: BaseException) -> tuple[str, str | None] | None:
    """(message, hex revert data) of an eth-tester revert, else None. web3's eth-tester provider re-raises the
    backend's ``TransactionFailed`` with the reason as text; the raw revert bytes are in the one it caught, as
    bytes or as their Python literal (``b'\\xce...'``: a custom error the provider could not read as a string)."""
    if type(exc).__name__ != "TransactionFailed":
        return None
    text = str(exc.args[0]) if exc.args else ""
    if not text.startswith("execution reverted"):
        text = f"execution reverted: {text}" if text else "execution reverted"
    raw = _revert_bytes(exc.__context__) if exc.__context__ is not None else None
    if raw is None:
        return text, None
    if text.startswith(("execution reverted: b'", 'execution reverted: b"')):
        text = "execution reverted"  # the bytes go in data, where clients decode them
    return text, "0x" + raw.hex()


def _revert_bytes(exc: BaseException) -> bytes | None:
    first = exc.args[0] if exc.args else None
    if isinstance(first, Exception) and first.args:  # eth-tester sometimes wraps the revert in another exception
        first = first.args[0]
    if isinstance(first, bytes | bytearray):
        return bytes(first)
    if isinstance(first, str) and first[:2] in ("b'", 'b"'):
        try:
            value = ast.literal_eval(first)  # a literal only: nothing is evaluated
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
        return value if isinstance(value, bytes) else None
    return None


def quantities(value: Any) -> Any:
    """JSON-RPC encoding of a result: integers as hex quantities, bytes as 0x hex (booleans and floats kept)."""
    if isinstance(value, dict):
        return {k: quantities(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [quantities(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _bounded(message: str) -> str:
    text = str(message)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "... (cut)"
