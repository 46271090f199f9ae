"""The gRPC server: the servicers of the services this process serves, health checking and reflection, wired once.

``GRPC_SERVICES`` is the table of what ``multiverse serve --services`` may name, as data: each service's full
name, how its servicer is built from the App, and how it is added; ``RIDERS``, the services registered along with
one of them (Admin with the store). A service not chosen is not registered (its calls get UNIMPLEMENTED). Health
answers for each registered service by its full name and for "" (the whole server); ``Served.drain`` turns them all
NOT_SERVING, for good, so balancers move off before the server stops."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from multiverse.app import App
from multiverse.store.prune import Housekeeping
from multiverse.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    market_pb2,
    market_pb2_grpc,
    multiverse_pb2,
    multiverse_pb2_grpc,
    rarity_pb2,
    rarity_pb2_grpc,
    store_pb2,
    store_pb2_grpc,
)
from services.admin_servicer import AdminServicer
from services.auth import Authenticator, AuthInterceptor
from services.decode import DecodeInterceptor
from services.errors import ErrorInterceptor
from services.limits import HEALTH, PENDING_PER_WORKER, LimitInterceptor, RpcLimits
from services.multiverse_servicer import MultiverseServicer
from services.rarity_servicer import RarityServicer
from services.reflection import enable_reflection
from services.store_servicer import StoreServicer

MAX_MESSAGE = 4 << 20  # chunks are <= 1 MiB; 4 MiB leaves room for the envelope
HTTP2_STREAMS = 100  # concurrent HTTP/2 streams per connection; more wait in the client, holding nothing here
KEEPALIVE_MS = 60_000  # ping a connection quiet this long, so that a vanished client's streams end
KEEPALIVE_TIMEOUT_MS = 20_000

access = logging.getLogger("multiverse.access")  # one line per call; `serve` shows it, `up` keeps it quiet


def _market_servicer(app: App) -> Any:
    from services.market_servicer import MarketServicer  # the market's stack: loaded when it is served

    return MarketServicer(app.market)


def _rarity_servicer(app: App) -> RarityServicer:
    return RarityServicer(app.rarity, watch_idle_s=app.settings.watch_idle_s, watch_max_s=app.settings.watch_max_s)


@dataclass(frozen=True)
class GrpcService:
    full_name: str
    servicer: Callable[[App], Any]
    add: Callable[[Any, grpc.Server], None]


GRPC_SERVICES: dict[str, GrpcService] = {
    "store": GrpcService(store_pb2.DESCRIPTOR.services_by_name["Store"].full_name,
                         lambda app: StoreServicer(app.store), store_pb2_grpc.add_StoreServicer_to_server),
    "multiverse": GrpcService(multiverse_pb2.DESCRIPTOR.services_by_name["Multiverse"].full_name,
                              lambda app: MultiverseServicer(app.crossing),
                              multiverse_pb2_grpc.add_MultiverseServicer_to_server),
    "rarity": GrpcService(rarity_pb2.DESCRIPTOR.services_by_name["Rarity"].full_name, _rarity_servicer,
                          rarity_pb2_grpc.add_RarityServicer_to_server),
    "market": GrpcService(market_pb2.DESCRIPTOR.services_by_name["Market"].full_name, _market_servicer,
                          market_pb2_grpc.add_MarketServicer_to_server),
}

# Registered along with the service named, never named on their own: Admin prunes and collects the store's data.
RIDERS: dict[str, tuple[GrpcService, ...]] = {
    "store": (GrpcService(admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
                          lambda app: AdminServicer(Housekeeping.over(app.meta, app.blobs)),
                          admin_pb2_grpc.add_AdminServicer_to_server),),
}


@dataclass(frozen=True)
class Served:
    """A built server: ``port`` it is bound to, ``names`` of the services health answers for (and "")."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    names: tuple[str, ...]

    def drain(self) -> None:
        """Every service NOT_SERVING from now on (balancers watching health stop sending calls here)."""
        self.health.enter_graceful_shutdown()


class AccessLog(grpc.ServerInterceptor):
    """One INFO line per call as it is routed (``multiverse.access``: the method), health checks aside: which
    replica served what, for an operator reading a process's log."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        if access.isEnabledFor(logging.INFO) and not details.method.startswith(HEALTH):
            access.info("call %s", details.method)
        return continuation(details)


def build_server(app: App, address: str, *, workers: int | None = None) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) server bound to ``address``; returns it and the bound port (``build``
    has the rest)."""
    served = build(app, address, workers=workers)
    return served.server, served.port


def build(app: App, address: str, *, workers: int | None = None) -> Served:
    """A server for ``app.services``, bound to ``address`` and not yet started.

    Every call but health checks goes through ``LimitInterceptor`` (services/limits.py): at most ``workers``
    calls at once, bounded streams in all and per key, stalled streams cut; health checks always answer.
    A request message that does not parse is refused with INVALID_ARGUMENT (``DecodeInterceptor``,
    services/decode.py; inside the limits, so a refusal holds its slot only while it answers). Then
    ``ErrorInterceptor`` maps every error to its status (services/errors.py) and ``AuthInterceptor`` authenticates
    the caller by services/auth.ACCESS, before the handler decodes anything of the request's own (its JSON).
    Reflection answers as v1 and v1alpha (services/reflection.py), for the registered services only.
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
                         interceptors=[AccessLog(), LimitInterceptor(limits), DecodeInterceptor(), ErrorInterceptor(),
                                       auth],
                         options=options, maximum_concurrent_rpcs=limits.workers * PENDING_PER_WORKER)
    names = []
    for name in app.services:
        if name in GRPC_SERVICES:  # "http" is the gateway's, served beside this port
            for service in (GRPC_SERVICES[name], *RIDERS.get(name, ())):
                service.add(service.servicer(app), server)
                names.append(service.full_name)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
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
    return Served(server, port, health_servicer, tuple(names))
