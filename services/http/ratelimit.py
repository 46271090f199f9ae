"""Rate limits on public reads: a token bucket per client address (``rate`` requests per second, ``burst`` at once).

Every GET or HEAD counts but those of static files (``/static/``): the JSON API, pages, pictures, token metadata.
Past its bucket a client gets 429 with ``Retry-After`` (whole seconds until a request is allowed again) and the
gateway's JSON error body. Memory is bounded: at most ``max_clients`` buckets are kept, least recently used
first out; an evicted client comes back with a full bucket, which is what an idle one would have anyway.

The client address is the TCP peer's: behind a reverse proxy, run uvicorn with the proxy's forwarded headers
trusted (``--forwarded-allow-ips``) so that it is the browser's."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from services.http.errors import error_body

EXEMPT = ("/static/",)
MAX_CLIENTS = 100_000


class Buckets:
    """Token buckets by key (pure but for the clock): ``take(key)`` is 0.0 when allowed, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or burst < 1 or max_clients < 1:
            raise ValueError(f"rate {rate} must be > 0, burst {burst} and max_clients {max_clients} >= 1")
        self.rate, self.burst, self.max_clients, self.clock = float(rate), float(burst), max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)  # the least recently seen
            return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimit:
    """ASGI middleware applying ``Buckets`` to public reads (see the module docstring)."""

    def __init__(self, app: Any, buckets: Buckets) -> None:
        self.app, self.buckets = app, buckets

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "")
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        body = json.dumps(error_body("RESOURCE_EXHAUSTED", f"too many requests from this address: at most "
                                     f"{self.buckets.rate:g} a second ({self.buckets.burst:g} at once); retry in "
                                     f"{retry} s")).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry).encode())]})
        await send({"type": "http.response.body", "body": body})


def install(api: Any, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS) -> Buckets:
    """Add the rate limit to the FastAPI app ``api``; returns its buckets."""
    buckets = Buckets(rate, burst, max_clients=max_clients)
    api.add_middleware(RateLimit, buckets=buckets)
    return buckets
