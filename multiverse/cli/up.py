"""``multiverse up``: the embedded stack in the foreground (metadata, blobs, rarity, the market's chain, gRPC, the
HTTP gateway: gallery and JSON API), with its banner, the demo unless ``--no-demo``, and a stop within seconds.

The gateway's socket is bound before the App opens, so its URL is known: unless set otherwise, wallets sign in to
it (sign-in domain and URI), a deployed token's base URI is ``<url>/token/``, and the chain's JSON-RPC port lets
the gallery's pages call it (CORS)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from multiverse.cli.connect import client_tls as _client_tls

STOP_GRACE_S = 3.0  # what calls in flight get to finish when `multiverse up` stops


def up(a: argparse.Namespace) -> None:
    """Serve until SIGTERM or Ctrl-C, then stop within seconds (calls in flight get STOP_GRACE_S)."""
    from multiverse.app import App
    from multiverse.store.auth import ensure_admin_key
    from multiverse.config import Settings
    from services.server import build_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl" is no news to a newcomer
    flags = vars(a)
    if a.grpc is not None:  # `up --grpc` meant "listen" until `--listen` took that job: kept one release
        print("warning: `up --grpc` is deprecated, use `up --listen` ($MULTIVERSE_LISTEN); --grpc now names the "
              "service the client commands connect to", file=sys.stderr)
        flags = {**flags, "listen": a.listen if a.listen is not None else a.grpc}
    settings = Settings.from_env(flags=flags)
    sock = None
    if settings.http_listen:
        from services.http.server import bind, url_of

        sock = bind(settings.http_listen)  # a taken port falls back to a free one
        settings = with_gallery(settings, url_of(sock, "https" if settings.tls else "http"))
    try:
        app = App.open(settings)  # seconds, whatever the rarity backlog: the rarity worker scores it after start
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    server = http = None
    try:
        admin = ensure_admin_key(app.meta, settings.data_dir)
        server, port = build_server(app, settings.grpc_addr)
        server.start()
        host = settings.grpc_addr.rsplit(":", 1)[0]
        if sock is not None:
            http = _serve_http(app, sock, settings)
            sock = None
        print(_banner(settings, f"{host}:{port}", app, admin, http.url if http else ""), flush=True)
        if not a.no_demo:
            from multiverse.demo import start_demo

            start_demo(f"{host}:{port}", admin, settings.data_dir,
                       min_tier=settings.market.market.min_tier if settings.market is not None else None,
                       tls=_demo_tls(a, settings), gallery=http.url if http else "")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping", flush=True)
    finally:
        # Seconds too: new calls are refused at once and calls in flight get STOP_GRACE_S; the rarity worker
        # finishes the snapshot in hand and saves what it scored (what is still queued is queued again at the
        # next start, as metadata holds it).
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the save short
        started = time.monotonic()
        if http is not None:
            http.stop()
        if sock is not None:
            sock.close()
        if server is not None:
            server.stop(grace=STOP_GRACE_S).wait()
        app.close()
        print(f"stopped in {time.monotonic() - started:.1f} s", flush=True)


def with_gallery(settings, url: str):
    """``settings`` for a gateway served at ``url``: unless set otherwise, the sign-in domain and URI name it, a
    deployed token's base URI is ``<url>/token/``; the chain's JSON-RPC CORS origins include it."""
    from dataclasses import replace
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


def _demo_tls(a: argparse.Namespace, settings):
    """How the demo's clients reach a TLS port: trusting --tls-ca ($MULTIVERSE_TLS_CA) when given, else the
    server's own certificate (right for a self-signed one); presenting --tls-client-cert for mutual TLS."""
    from multiverse.tlsconfig import ClientTls

    if settings.tls is None:
        return None
    given = _client_tls(a)
    if given is not None and given.ca:
        return given
    return ClientTls(ca=settings.tls.cert, cert=given.cert if given else b"", key=given.key if given else b"")


def _banner(settings, address: str, app, admin: str | None, gallery: str = "") -> str:
    key_line = (f"admin key  {admin}\n           (shown once; also in {settings.data_dir / 'admin.key'}, mode 0600)"
                if admin else f"admin key  in {settings.data_dir / 'admin.key'}")
    tls = settings.tls
    security = ("plaintext" if tls is None else
                f"TLS{', mutual: client certificates required' if tls.mutual else ''}")
    connect = address if tls is None else f"{address} --tls-ca CA.pem"
    return "\n".join([
        "Multiverse is serving",
        *([f"gallery    {gallery}  (JSON API {gallery}/api/docs)"] if gallery else []),
        f"gRPC       {address}  ({security}; health checking and reflection on)",
        f"metadata   {_redact(settings.database_url)}",
        f"blobs      {app.blobs.describe()}",
        *([f"chain      {app.market.chain.describe()}"
           + (f"\n           wallets connect to JSON-RPC {app.market.rpc_url}" if app.market.rpc_url else "")]
          if getattr(app, "market", None) is not None else []),
        key_line,
        "try, from another terminal:",
        f"  .venv/bin/multiverse --grpc {connect} space register demo --frame-shape 16,18,32 --dtype float16 --player-dim 64",
        f"  .venv/bin/multiverse --grpc {connect} world create w1 --space demo",
        f"  .venv/bin/multiverse --grpc {connect} snapshot synth --space demo --frames 64 --players 2 --seed 1 s.safetensors",
        f"  .venv/bin/multiverse --grpc {connect} snapshot save w1 s.safetensors",
        f"  .venv/bin/multiverse --grpc {connect} log w1",
    ])


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
