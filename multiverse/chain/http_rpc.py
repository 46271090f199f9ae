"""Serve the in-process EVM as Ethereum JSON-RPC over HTTP on a local port, so a browser wallet (EIP-1193, e.g.
MetaMask's "add network") or any web3 client can use the embedded chain. Plain ``http.server``; binds to
loopback by default. Which methods are served and how answers look is ``rpc_gate``; this is the HTTP shell:

- a POST must be ``Content-Type: application/json`` (415 otherwise), so a foreign web page cannot send one
  without a CORS preflight; its body is bounded in bytes (413) and in nesting depth before it is parsed (400,
  ``multiverse.jsonsafe``: deeply nested JSON overflows the C stack when the recursion limit is raised, as py_ecc
  does); a batch holds at most ``MAX_BATCH`` requests (413);
- CORS answers only the configured origins (the gallery's own); other origins get no CORS header and their
  preflight is refused (403). Wallet extensions and non-browser clients need no CORS.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from multiverse import jsonsafe
from multiverse.errors import InvalidArgument

from .rpc_gate import DEV_SWITCH, INVALID_REQUEST, RpcGate, error

log = logging.getLogger("multiverse.chain.rpc")
MAX_BODY = 1 << 20  # bytes of one request body
MAX_DEPTH = 20  # JSON nesting: a batch of eth_getLogs filters with topic lists is 6 deep
MAX_BATCH = 100  # requests in one batch
READ_TIMEOUT_S = 30.0  # a client that stops sending its body is dropped
DRAIN_BYTES, DRAIN_S = 16 * MAX_BODY, 5.0  # of a refused body, read and dropped before answering
PARSE_ERROR = -32700
_ORIGIN = re.compile(r"^https?://[a-z0-9.\-\[\]:]+$")
_LENGTH = re.compile(r"^[0-9]{1,12}$")


def parse_cors_origins(values: Iterable[str] | str, field: str = "chain.rpc_cors_origins") -> frozenset[str]:
    """Validated CORS origins (``scheme://host[:port]``, lower case) from a list or a comma-separated string."""
    items = values.split(",") if isinstance(values, str) else list(values)
    out = set()
    for raw in items:
        origin = str(raw).strip().lower().rstrip("/")
        if not origin:
            continue
        if not _ORIGIN.match(origin):
            raise InvalidArgument(
                field,
                raw,
                "give each allowed origin as scheme://host[:port] (e.g. https://gallery.example), comma-separated; "
                "a wildcard would let every web page use the port",
            )
        out.add(origin)
    return frozenset(out)


class JsonRpcServer:
    """``JsonRpcServer(chain, "127.0.0.1:8545").start()``; ``url`` is where wallets connect. ``cors_origins``: the
    web origins allowed to call it from a page (none by default); ``dev_methods``: serve every eth-tester method
    (test methods, unlocked accounts) as well: for a development machine only; ``tls``: serve HTTPS only."""

    def __init__(
        self,
        chain: Any,
        address: str = "127.0.0.1:0",
        *,
        cors_origins: Iterable[str] = (),
        dev_methods: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidArgument(
                "chain.rpc_listen", address, "use host:port, e.g. 127.0.0.1:8545 (port 0: any free port)"
            )
        lock = chain._lock

        def locked(call: Any) -> Any:
            with lock:
                return call()

        gate = RpcGate(_rpc_shaped(chain), chain.chain_id(), dev_methods=dev_methods, call=locked)
        handler = type("Handler", (_Handler,), {"gate": gate, "origins": parse_cors_origins(cors_origins)})
        self._server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler)
        self._tls = tls is not None
        if tls is not None:  # the handshake runs in the request's own thread (under its read timeout), not in accept
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._thread: threading.Thread | None = None
        if dev_methods:
            log.warning(
                "%s is on: whoever reaches %s can spend the dev accounts and rewrite the chain", DEV_SWITCH, self.url
            )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    def start(self) -> JsonRpcServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="chain-json-rpc", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    gate: RpcGate
    origins: frozenset[str]
    timeout = READ_TIMEOUT_S

    def do_OPTIONS(self) -> None:  # a CORS preflight from a web page
        origin = self._allowed_origin()
        if origin is None:
            shown = self.headers.get("Origin", "(none)")[:200]
            return self._refuse(403, f"origin {shown} may not call this port from a web page", None)
        self.send_response(204)
        self._cors(origin)
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        if self.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
            self.send_header("Access-Control-Allow-Private-Network", "true")  # a public page calling a local port
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        origin = self._allowed_origin()
        content_type = self.headers.get("Content-Type", "")
        declared = self.headers.get("Content-Length", "")
        length = int(declared) if _LENGTH.match(declared) else None
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            self._drain(length)
            shown = content_type[:100] or "(none)"
            return self._refuse(415, f"Content-Type is {shown}: send JSON-RPC as application/json", origin)
        if length is None:
            return self._refuse(411, "Content-Length is missing or not a number: send the body with its length", origin)
        if not 0 < length <= MAX_BODY:
            self._drain(length)
            status, why = (413, f"is {length} bytes, over {MAX_BODY}") if length else (400, "is empty")
            return self._refuse(status, f"the request body {why}: send one request or a batch", origin)
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            return self._refuse(408, f"the body did not arrive within {READ_TIMEOUT_S:.0f} s", origin)
        if len(body) < length:
            return self._refuse(400, f"the body ended after {len(body)} of {length} bytes (Content-Length)", origin)
        if jsonsafe.depth(body, stop=MAX_DEPTH) > MAX_DEPTH:
            return self._refuse(400, f"the request nests JSON deeper than {MAX_DEPTH} levels: not parsed", origin)
        try:
            parsed = jsonsafe.loads(body, field="request body", max_bytes=MAX_BODY, max_depth=MAX_DEPTH)
        except InvalidArgument as exc:
            return self._refuse(400, f"parse error: {exc.message}", origin, PARSE_ERROR)
        if not isinstance(parsed, list):
            return self._reply(200, self.gate.answer(parsed), origin)
        if not parsed:
            return self._refuse(400, "an empty batch: send at least one request", origin)
        if len(parsed) > MAX_BATCH:
            return self._refuse(413, f"a batch of {len(parsed)} requests, over {MAX_BATCH}: split it", origin)
        self._reply(200, [self.gate.answer(r) for r in parsed], origin)

    def _refuse(self, status: int, message: str, origin: str | None, code: int = INVALID_REQUEST) -> None:
        self._reply(status, error(code, message), origin)

    def _drain(self, length: int | None) -> None:
        """Read and drop a refused body (at most DRAIN_BYTES, for at most DRAIN_S), so that the client reads the
        answer: closing a socket with unread bytes resets the connection, and the answer is lost with it."""
        left, deadline = min(length or 0, DRAIN_BYTES), time.monotonic() + DRAIN_S
        try:
            while left > 0 and time.monotonic() < deadline and (chunk := self.rfile.read1(min(left, 1 << 16))):
                left -= len(chunk)
        except OSError:
            pass  # the client went away or stalled: nothing to answer it with

    def _allowed_origin(self) -> str | None:
        origin = self.headers.get("Origin", "").strip().lower()
        return origin if origin and origin in self.origins else None

    def _cors(self, origin: str) -> None:
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")

    def _reply(self, status: int, payload: Any, origin: str | None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        if origin is not None:
            self._cors(origin)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def _rpc_shaped(chain: Any) -> Any:
    """The provider's ``make_request`` behind eth-tester's own formatting middleware (camelCase fields, hex
    data), as a JSON-RPC node would answer; integers are turned into hex quantities by ``rpc_gate.quantities``."""
    from web3.providers.eth_tester.middleware import (
        default_transaction_fields_middleware,
        ethereum_tester_middleware,
    )

    make = chain.provider.make_request
    for middleware in (ethereum_tester_middleware, default_transaction_fields_middleware):
        make = middleware(chain.web3).wrap_make_request(make)
    return make
