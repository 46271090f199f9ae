"""Serve the in-process EVM as Ethereum JSON-RPC over HTTP on a local port, so a browser wallet (EIP-1193, e.g.
MetaMask's "add network") or any web3 client can use the embedded chain. Plain ``http.server``; binds to
loopback by default. Each request is handed to the eth-tester provider under the chain's lock."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from multiverse.errors import InvalidArgument

log = logging.getLogger("multiverse.chain.rpc")
MAX_BODY = 1 << 20


class JsonRpcServer:
    """``JsonRpcServer(chain, "127.0.0.1:8545").start()``; ``url`` is where wallets connect."""

    def __init__(self, chain: Any, address: str = "127.0.0.1:0") -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidArgument(
                "chain.rpc_listen", address, "use host:port, e.g. 127.0.0.1:8545 (port 0: any free port)"
            )
        make_request, lock = _rpc_shaped(chain), chain._lock

        class Handler(BaseHTTPRequestHandler):
            def do_OPTIONS(self) -> None:  # CORS preflight from a web page
                self.send_response(204)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    return self._reply(
                        413,
                        {
                            "jsonrpc": "2.0",
                            "id": None,
                            "error": {"code": -32600, "message": "body too large or empty"},
                        },
                    )
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    return self._reply(
                        400,
                        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}},
                    )
                answer = [self._one(r) for r in body] if isinstance(body, list) else self._one(body)
                self._reply(200, answer)

            def _one(self, request: Any) -> dict[str, Any]:
                if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                    return {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32600, "message": "invalid request"},
                    }
                try:
                    with lock:
                        response = make_request(request["method"], request.get("params") or [])
                except Exception as exc:  # noqa: BLE001  # a provider failure is the caller's error, not the server's
                    response = {"error": {"code": -32000, "message": f"{type(exc).__name__}: {exc}"}}
                out = {"jsonrpc": "2.0", "id": request.get("id")}
                out.update({k: v for k, v in dict(response).items() if k in ("result", "error")})
                return _quantities(out)

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        self._server = ThreadingHTTPServer((host, int(port)), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> JsonRpcServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="chain-json-rpc", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _rpc_shaped(chain: Any) -> Any:
    """The provider's ``make_request`` behind eth-tester's own formatting middleware (camelCase fields, hex
    data), as a JSON-RPC node would answer; integers are turned into hex quantities by ``_quantities``."""
    from web3.providers.eth_tester.middleware import (
        default_transaction_fields_middleware,
        ethereum_tester_middleware,
    )

    make = chain.provider.make_request
    for middleware in (ethereum_tester_middleware, default_transaction_fields_middleware):
        make = middleware(chain.web3).wrap_make_request(make)
    return make


def _quantities(value: Any) -> Any:
    """JSON-RPC encoding: integers as hex quantities, bytes as 0x hex (``id`` and booleans kept)."""
    if isinstance(value, dict):
        return {k: v if k in ("id", "jsonrpc") else _quantities(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_quantities(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
