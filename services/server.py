"""The gRPC server: every servicer, health checking and reflection, wired once."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from multiverse.app import App
from multiverse.v1 import (
    multiverse_pb2,
    multiverse_pb2_grpc,
    rarity_pb2,
    rarity_pb2_grpc,
    store_pb2,
    store_pb2_grpc,
)
from services.auth import Authenticator, AuthInterceptor
from services.decode import DecodeInterceptor
from services.errors import ErrorInterceptor
from services.limits import PENDING_PER_WORKER, LimitInterceptor, RpcLimits
from services.multiverse_servicer import MultiverseServicer
from services.rarity_servicer import RarityServicer
from services.reflection import enable_reflection
from services.store_servicer import StoreServicer

MAX_MESSAGE = 4 << 20  # chunks are <= 1 MiB; 4 MiB leaves room for the envelope
HTTP2_STREAMS = 100  # concurrent HTTP/2 streams per connection; more wait in the client, holding nothing here
KEEPALIVE_MS = 60_000  # ping a connection quiet this long, so that a vanished client's streams end
KEEPALIVE_TIMEOUT_MS = 20_000


def build_server(app: App, address: str, *, workers: int | None = None) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) server bound to ``address``; returns it and the bound port.

    Every call but health checks goes through ``LimitInterceptor`` (services/limits.py): at most ``workers``
    calls at once, bounded streams in all and per key, stalled streams cut; health checks always answer.
    A request message that does not parse is refused with INVALID_ARGUMENT (``DecodeInterceptor``,
    services/decode.py; inside the limits, so a refusal holds its slot only while it answers). Then
    ``ErrorInterceptor`` maps every error to its status (services/errors.py) and ``AuthInterceptor`` authenticates
    the caller by services/auth.ACCESS, before the handler decodes anything of the request's own (its JSON).
    Reflection answers as v1 and v1alpha (services/reflection.py).
    With ``app.settings.tls`` the port serves TLS only (mutual TLS when it names a client CA)."""
    limits = RpcLimits.from_settings(app.settings, workers)
    auth = AuthInterceptor(Authenticator(app.meta, app.market.signin.authenticate if app.market is not None else None))
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.so_reuseport", 0),
        ("grpc.max_concurrent_streams", HTTP2_STREAMS),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.max_pings_without_data", 0),  # an idle watch sends no data, yet its peer must be probed
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="grpc-worker"),
                         interceptors=[LimitInterceptor(limits), DecodeInterceptor(), ErrorInterceptor(), auth],
                         options=options, maximum_concurrent_rpcs=limits.workers * PENDING_PER_WORKER)
    store_pb2_grpc.add_StoreServicer_to_server(StoreServicer(app.store), server)
    multiverse_pb2_grpc.add_MultiverseServicer_to_server(MultiverseServicer(app.crossing), server)
    if app.rarity is not None:
        watch = {"watch_idle_s": app.settings.watch_idle_s, "watch_max_s": app.settings.watch_max_s}
        rarity_pb2_grpc.add_RarityServicer_to_server(RarityServicer(app.rarity, **watch), server)

    if app.market is not None:
        from multiverse.v1 import market_pb2, market_pb2_grpc
        from services.market_servicer import MarketServicer

        market_pb2_grpc.add_MarketServicer_to_server(MarketServicer(app.market), server)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [store_pb2.DESCRIPTOR.services_by_name["Store"].full_name,
             multiverse_pb2.DESCRIPTOR.services_by_name["Multiverse"].full_name]
    if app.rarity is not None:
        names.append(rarity_pb2.DESCRIPTOR.services_by_name["Rarity"].full_name)
    if app.market is not None:
        names.append(market_pb2.DESCRIPTOR.services_by_name["Market"].full_name)
    for name in [*names, ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    enable_reflection([*names, health.SERVICE_NAME], server)

    tls = app.settings.tls
    if tls is None:
        port = server.add_insecure_port(address)
    else:  # with a client CA, every client must present a certificate it signed (mutual TLS)
        credentials = grpc.ssl_server_credentials([(tls.key, tls.cert)], root_certificates=tls.client_ca or None,
                                                  require_client_auth=tls.mutual)
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}: the port is taken or the address is not local")
    return server, port
