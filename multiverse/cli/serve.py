"""``multiverse serve --services store,multiverse,...``: one process of a split topology, the same code as ``up``.

``up`` is ``serve`` of every service plus its banner and the demo; both run ``start`` (bind, open the App for the
chosen services, serve gRPC and, with ``http``, the gateway), ``wait_for_stop`` and ``Running.stop``. ``serve``
prints one line a parent process can read, ``serving store,multiverse on 127.0.0.1:PORT`` (the bound port, so
``--listen 127.0.0.1:0`` works), and ``http URL`` after it when it serves the gateway. Every process has a gRPC
port: health answers there for each chosen service and for "" (an ``http``-only process: "" alone), so one kind
of readiness probe fits every process.

SIGTERM (or Ctrl-C) stops it within seconds: health turns NOT_SERVING for every service first (balancers drain),
new calls are refused, calls in flight get ``STOP_GRACE_S`` to finish, then the App closes (the rarity worker
saves what it scored, the market's indexer stops) and the command returns 0.

The gateway's socket is bound before the App opens, so its URL is known: unless set otherwise, wallets sign in to
it (sign-in domain and URI), a deployed token's base URI is ``<url>/token/``, and the chain's JSON-RPC port lets
the gallery's pages call it (CORS)."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

STOP_GRACE_S = 3.0  # what calls in flight get to finish when `multiverse up` or `serve` stops

log = logging.getLogger("multiverse.serve")


@dataclass
class Running:
    """A started process: the App, its gRPC server (``served``: port, health) at ``address``, the gateway if
    served, and the admin key minted at this start (None: one existed)."""

    app: Any
    served: Any
    address: str
    http: Any = None
    admin: str | None = None

    @property
    def services(self) -> tuple[str, ...]:
        """What this process serves (``http`` only when the gateway is up)."""
        return tuple(s for s in self.app.services if s != "http" or self.http is not None)

    def stop(self) -> float:
        """Drain, stop and close (see the module docstring); returns the seconds it took."""
        started = time.monotonic()
        self.served.drain()
        stopped = self.served.server.stop(grace=STOP_GRACE_S)  # refuses new calls now; returns at once
        if self.http is not None:
            self.http.stop()
        stopped.wait()
        # The rarity worker finishes the snapshot in hand and saves what it scored (what is still queued is queued
        # again at the next start, as metadata holds it).
        self.app.close()
        return time.monotonic() - started


def configure_logging(access: bool) -> None:
    """INFO to stderr; ``access``: one line per call (``multiverse.access``), which ``up`` leaves out."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl" is no news to a newcomer
    logging.getLogger("multiverse.access").setLevel(logging.INFO if access else logging.WARNING)


def start(settings) -> Running:
    """Open the App for ``settings.services`` and serve it: gRPC on ``settings.grpc_addr`` and, when ``http`` is
    chosen and ``settings.http_listen`` is set, the gateway. Whatever had started is closed if a step fails."""
    from multiverse.app import App
    from multiverse.store.auth import ensure_admin_key
    from services.server import build

    sock = None
    if "http" in settings.services and settings.http_listen:
        from services.http.server import bind, url_of

        sock = bind(settings.http_listen)  # a taken port falls back to a free one
        settings = with_gallery(settings, url_of(sock, "https" if settings.tls else "http"))
    try:
        app = App.open(settings)  # seconds, whatever the rarity backlog: the rarity worker scores it after start
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    served = None
    try:
        admin = ensure_admin_key(app.meta, settings.data_dir)
        if admin:
            log.info("minted the first admin key, in %s (mode 0600)", settings.data_dir / "admin.key")
        served = build(app, settings.grpc_addr)
        # what start-up built (torch, FAISS, the modules, the loaded indexes) lives as long as the process: kept out
        # of the collector's full passes, which otherwise walk all of it and stalled a save for ~140 ms every
        # ~70 saves (12 ms after this)
        gc.collect()
        gc.freeze()
        served.server.start()
        running = Running(app, served, f"{settings.grpc_addr.rsplit(':', 1)[0]}:{served.port}", admin=admin)
        if sock is not None:
            running.http, sock = _serve_http(app, sock, settings), None
        return running
    except BaseException:
        if served is not None:
            served.server.stop(grace=None).wait()
        if sock is not None:
            sock.close()
        app.close()
        raise


def stop_on_signal() -> threading.Event:
    """An event SIGTERM sets (installed before the App opens, so a SIGTERM while it opens stops it cleanly)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set (SIGTERM) or Ctrl-C; then a second Ctrl-C cannot cut the shutdown short."""
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(a: argparse.Namespace) -> int:
    """Serve the chosen services until SIGTERM or Ctrl-C, then stop within seconds; 0 when stopped cleanly."""
    from multiverse.config import Settings

    configure_logging(access=True)
    stop = stop_on_signal()
    running = start(Settings.from_env(flags=vars(a)))
    try:
        print(f"serving {','.join(running.services)} on {running.address}", flush=True)
        if running.http is not None:
            print(f"http {running.http.url}", flush=True)
        wait_for_stop(stop)
        print("stopping", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"stopped in {running.stop():.1f} s", flush=True)
    return 0


def with_gallery(settings, url: str):
    """``settings`` for a gateway served at ``url``: unless set otherwise, the sign-in domain and URI name it, a
    deployed token's base URI is ``<url>/token/``; the chain's JSON-RPC CORS origins include it."""
    from urllib.parse import urlsplit

    from multiverse.market.signin import SignInConfig

    m = settings.market
    if m is None:
        return settings
    signin, defaults = m.market.signin, SignInConfig()
    if (signin.domain, signin.uri) == (defaults.domain, defaults.uri):
        signin = replace(signin, domain=urlsplit(url).netloc, uri=url)
    chain = m.chain if m.chain.base_uri else replace(m.chain, base_uri=f"{url}/token/")
    market = replace(m, market=replace(m.market, signin=signin), chain=chain,
                     rpc_cors_origins=tuple({*m.rpc_cors_origins, url.lower()}))
    return replace(settings, market=market)


def _serve_http(app, sock, settings):
    """The gateway on ``sock`` (HTTPS with the gRPC port's certificate when TLS is on), started."""
    from services.http.app import Gateway, create_app
    from services.http.server import HttpServer, url_of

    tls = settings.tls
    ssl = ({"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)} if tls is not None else None)
    url = url_of(sock, "https" if tls else "http")
    return HttpServer(create_app(Gateway(app, url)), sock, ssl=ssl).start()
