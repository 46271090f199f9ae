"""``multiverse up``: the embedded stack in the foreground (metadata, blobs, rarity, the market's chain, gRPC, the
HTTP gateway: gallery and JSON API), with its banner, the demo unless ``--no-demo``, and a stop within seconds.

It is ``multiverse serve`` (multiverse/cli/serve.py) of every service, plus the banner and the demo: the same
start, the same drain and stop."""

from __future__ import annotations

import argparse
import sys

from multiverse.cli.connect import client_tls as _client_tls
from multiverse.cli.serve import STOP_GRACE_S, configure_logging, start, stop_on_signal, wait_for_stop, with_gallery

__all__ = ["STOP_GRACE_S", "up", "with_gallery"]


def up(a: argparse.Namespace) -> None:
    """Serve every service until SIGTERM or Ctrl-C, then stop within seconds (calls in flight get STOP_GRACE_S)."""
    from dataclasses import replace

    from multiverse.config import Settings
    from multiverse.options import SERVICES

    configure_logging(access=False)
    flags = vars(a)
    if a.grpc is not None:  # `up --grpc` meant "listen" until `--listen` took that job: kept one release
        print("warning: `up --grpc` is deprecated, use `up --listen` ($MULTIVERSE_LISTEN); --grpc now names the "
              "service the client commands connect to", file=sys.stderr)
        flags = {**flags, "listen": a.listen if a.listen is not None else a.grpc}
    stop = stop_on_signal()
    settings = replace(Settings.from_env(flags=flags), services=SERVICES)  # up serves all, whatever is set
    running = start(settings)
    try:
        http = running.http
        print(_banner(running.app.settings, running.address, running.app, running.admin, http.url if http else ""),
              flush=True)
        if not a.no_demo:
            from multiverse.demo import start_demo

            settings = running.app.settings
            start_demo(running.address, running.admin, settings.data_dir,
                       min_tier=settings.market.market.min_tier if settings.market is not None else None,
                       tls=_demo_tls(a, settings), gallery=http.url if http else "")
        wait_for_stop(stop)
        print("stopping", flush=True)
    finally:
        # Seconds too: health turns NOT_SERVING, new calls are refused at once and calls in flight get
        # STOP_GRACE_S; the rarity worker finishes the snapshot in hand and saves what it scored.
        print(f"stopped in {running.stop():.1f} s", flush=True)


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
