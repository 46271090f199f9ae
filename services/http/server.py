"""The gateway's HTTP server: the ASGI app on uvicorn, in a background thread, on a socket bound beforehand.

Binding first (``bind``) lets ``multiverse up`` know the gateway's URL before it opens the App, so the sign-in
domain and the token's base URI can name it. ``HttpServer(app, sock).start()`` serves until ``stop()``, which
returns within a couple of seconds: open streams (the live feed) are cut after ``grace_s``.

    sock = bind("127.0.0.1:8080")            # a taken port falls back to a free one (fallback=True)
    server = HttpServer(create_app(gw), sock).start()
    server.url                                # http://127.0.0.1:8080
    server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from multiverse.errors import InvalidArgument

log = logging.getLogger("multiverse.http")


def parse_listen(address: str, field: str = "http_listen") -> tuple[str, int]:
    """(host, port) of ``host:port`` (port 0: any free port), or InvalidArgument naming ``field``."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(field, address, "use host:port, e.g. 127.0.0.1:8080 (port 0: any free port; "
                              "\"off\" serves no gallery)")
    return host, int(port)


def bind(address: str, *, fallback: bool = True, field: str = "http_listen") -> socket.socket:
    """A listening TCP socket on ``address``; with ``fallback`` a taken port gives a free one on the same host
    (as the chain's JSON-RPC port does), logged."""
    host, port = parse_listen(address, field)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return _listen(family, host, port)
    except OSError as exc:
        if not fallback or port == 0:
            raise
        log.warning("cannot serve HTTP on %s (%s); using a free port", address, exc)
        return _listen(family, host, 0)


def _listen(family: int, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock
    except BaseException:
        sock.close()
        raise


def url_of(sock: socket.socket, scheme: str = "http") -> str:
    """The URL a bound socket is reached at (``http://host:port``, IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class HttpServer:
    """uvicorn serving ``app`` on ``sock`` in a daemon thread (see the module docstring). ``ssl``: keyword
    arguments for uvicorn's TLS (``ssl_certfile`` and so on), when the gateway serves HTTPS."""

    def __init__(self, app: Any, sock: socket.socket, *, grace_s: float = 1.0, ssl: dict[str, Any] | None = None,
                 log_level: str = "warning") -> None:
        self.sock = sock
        self.url = url_of(sock, "https" if ssl else "http")
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=grace_s, timeout_keep_alive=5, **(ssl or {}))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="http-gateway", daemon=True)
        self._failed: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by start() when it happens before the server is up
            self._failed = exc
            log.exception("the HTTP gateway stopped with an error")

    def start(self, timeout: float = 10.0) -> HttpServer:
        """Serve; returns once the server accepts connections (or raises what stopped it)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._failed is not None or not self._thread.is_alive():
                raise RuntimeError(f"the HTTP gateway did not start: {self._failed!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the HTTP gateway did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish for up to the grace period, cut the rest; join."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a stream that ignored the grace period
            self._server.force_exit = True
            self._thread.join(timeout)
        try:
            self.sock.close()
        except OSError:
            pass
