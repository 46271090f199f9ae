"""The compose file's health checks, run inside a service's container (Kubernetes probes gRPC health natively).

    python /app/deploy/healthcheck.py grpc 127.0.0.1:50051 multiverse.v1.Store   # grpc.health.v1 Check
    python /app/deploy/healthcheck.py http http://127.0.0.1:8080/api/spaces      # the gateway answers 200

Exit status 0 when the service reports SERVING (or the page answers 200), 1 otherwise, with the reason on stderr.
The service name "" asks about the whole process.
"""

from __future__ import annotations

import sys

TIMEOUT_S = 3.0


def grpc_serving(address: str, service: str) -> str:
    """"" when ``service`` at ``address`` reports SERVING, else why not."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
        except grpc.RpcError as exc:
            return f"{address} {service or '(server)'}: {exc.code().name} {exc.details() or ''}".strip()
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address} {service or '(server)'}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return ""


def http_ok(url: str) -> str:
    """"" when ``url`` answers 200, else why not."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:  # noqa: S310 - a fixed local URL
            return "" if reply.status == 200 else f"{url}: HTTP {reply.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "grpc":
        problem = grpc_serving(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "http":
        problem = http_ok(argv[1])
    else:
        print("usage: healthcheck.py grpc HOST:PORT SERVICE | healthcheck.py http URL", file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
