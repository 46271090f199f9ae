"""The client's channel: one address as given, or several replicas balanced by gRPC itself.

``Client("host1:p1,host2:p2", key)`` (and the CLI's ``--grpc`` / ``MULTIVERSE_GRPC``) takes a comma list. gRPC's
own round-robin then spreads calls over a static list of the replicas' addresses (``ipv4:a:p1,b:p2``; host names
are resolved here, once), skipping any whose health (``grpc.health.v1``, service "": the whole server) is not
SERVING, so a replica that drains on SIGTERM gets no new calls. Calls that may safely run twice are retried by
gRPC on UNAVAILABLE, on another replica (``RETRIED``: the reads); a save streams its request (SaveChunks or
SaveSnapshot), which gRPC's retry policy cannot replay, so ``Client.save_snapshot`` retries it itself with the
same idempotency key and bytes. A single address keeps the plain channel it always had.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from multiverse.errors import InvalidArgument
from multiverse.tlsconfig import ClientTls

# Methods gRPC retries on UNAVAILABLE: reads (a stream's only until its first reply arrives), per service.
RETRIED = {
    "multiverse.v1.Store": ("GetSpace", "ListSpaces", "GetWorld", "ListWorlds", "LoadSnapshot", "GetSnapshot", "Log",
                            "Heads", "WhoAmI", "FindMissingChunks"),
    "multiverse.v1.Multiverse": ("PreviewCross", "ListOperators"),
    "multiverse.v1.Rarity": ("Score", "TopRare", "RarityOf", "Neighbors", "Stats", "WatchRare"),
    "multiverse.v1.Market": ("GetToken", "VerifyToken", "ListTokens", "Listings", "History", "GetChainInfo",
                             "SignInNonce"),
}
MAX_ATTEMPTS = 4  # the first try and up to three more (gRPC caps a retry policy at 5)


@dataclass(frozen=True)
class Target:
    """What to dial: ``uri`` for grpc, the ``replicas`` behind it, and the ``authority`` to present (the first
    replica's host:port: a TLS certificate must name it)."""

    uri: str
    replicas: int
    authority: str = ""


def split(target: str) -> list[str]:
    """The replicas' ``host:port`` of a comma list; InvalidArgument naming the target when one is malformed."""
    parts = [p.strip() for p in target.split(",")]
    if not target.strip() or any(not p for p in parts):
        raise InvalidArgument("target", target, "use host:port, or several replicas as host1:port1,host2:port2")
    return parts


def resolve(target: str) -> Target:
    """``target`` as grpc dials it: a single address unchanged; several as a static ``ipv4:``/``ipv6:`` list."""
    parts = split(target)
    if len(parts) == 1:
        return Target(parts[0], 1)
    v4: list[str] = []
    v6: list[str] = []
    for part in parts:
        host, port = _host_port(target, part)
        for address in _addresses(target, host, port):
            (v6 if ":" in address else v4).append(f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
    # one grpc URI holds one family: IPv4 where any replica has it, else IPv6
    scheme, found = ("ipv4", v4) if v4 else ("ipv6", v6)
    return Target(f"{scheme}:{','.join(dict.fromkeys(found))}", len(parts), parts[0])


def _host_port(target: str, part: str) -> tuple[str, int]:
    host, sep, port = part.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in part:
        raise InvalidArgument("target", target, f"{part!r} is not host:port: give each replica as host:port, "
                              "comma-separated (e.g. 10.0.0.5:50051,10.0.0.6:50051)")
    return host.strip("[]"), int(port)


def _addresses(target: str, host: str, port: int) -> list[str]:
    """``host``'s IP addresses: itself when it is one, else what the resolver says now (resolved once)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidArgument("target", target, f"host {host!r} does not resolve ({exc}): check the name") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def service_config() -> str:
    """Round-robin over the healthy replicas, and retries of the reads on UNAVAILABLE (``RETRIED``)."""
    retry = {"maxAttempts": MAX_ATTEMPTS, "initialBackoff": "0.05s", "maxBackoff": "1s", "backoffMultiplier": 2,
             "retryableStatusCodes": ["UNAVAILABLE"]}
    names = [{"service": service, "method": method} for service, methods in RETRIED.items() for method in methods]
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""},
                       "methodConfig": [{"name": names, "retryPolicy": retry}]})


def open_channel(target: str, tls: ClientTls | None, options: Sequence[tuple[str, object]]) -> tuple[grpc.Channel, int]:
    """A channel to ``target`` (one address, or replicas comma-separated) and how many replicas it spans."""
    where = resolve(target)
    options = list(options)
    if where.replicas > 1:
        options += [("grpc.service_config", service_config()), ("grpc.enable_retries", 1),
                    ("grpc.default_authority", where.authority)]
    if tls is None:
        return grpc.insecure_channel(where.uri, options=options), where.replicas
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca or None, private_key=tls.key or None,
                                               certificate_chain=tls.cert or None)
    return grpc.secure_channel(where.uri, credentials, options=options), where.replicas
