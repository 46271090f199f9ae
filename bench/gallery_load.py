"""The gallery bench's load: concurrent HTTP clients (threads, one keep-alive ``httpx.Client`` each) that request
a target's URLs round robin and time each request from send to the last byte of the body.

A target is a name and a list of URL paths (the same vector's picture and its same-size static file share a
position, so a ratio compares like with like). ``measure`` runs ``clients`` threads until ``requests`` are done
or ``seconds`` have passed, whichever comes first, after one warm request per client (its connection opened, the
server's caches filled); any answer but 200 counts as an error and its time is left out.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

import httpx
import numpy as np


@dataclass(frozen=True)
class Result:
    target: str
    requests: int  # answered 200 and timed
    errors: int  # any other answer, or no answer
    seconds: float  # wall time of the timed part
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float  # timed requests per second, all clients together
    bytes: int  # mean body size
    status: str  # "" or the first error seen (status code and the start of the body)

    def summary(self) -> dict:
        return {"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms, "rps": self.rps,
                "n": self.requests, "errors": self.errors, "bytes": self.bytes, **({"error": self.status}
                                                                                  if self.status else {})}


def client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=120.0, limits=httpx.Limits(max_keepalive_connections=1))


def measure(base_url: str, target: str, paths: list[str], *, clients: int, requests: int,
            seconds: float) -> Result:
    """Time ``requests`` GETs of ``paths`` (round robin) from ``clients`` threads, for at most ``seconds``."""
    counter = itertools.count()
    times: list[list[float]] = [[] for _ in range(clients)]
    sizes: list[list[int]] = [[] for _ in range(clients)]
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def run(me: int) -> None:
        with client(base_url) as http:
            try:
                http.get(paths[me % len(paths)])  # opens the connection; the server's caches warm up
            except httpx.HTTPError:
                pass
            ready.wait()
            while True:
                i = next(counter)
                if i >= requests or time.perf_counter() > deadline[0]:
                    return
                path = paths[i % len(paths)]
                started = time.perf_counter()
                try:
                    answer = http.get(path)
                except httpx.HTTPError as exc:
                    errors.append(f"{path}: {exc!r}")
                    continue
                took = time.perf_counter() - started
                if answer.status_code != 200:
                    errors.append(f"{path}: {answer.status_code} {answer.text[:200]}")
                    continue
                times[me].append(took)
                sizes[me].append(len(answer.content))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    ready.wait()
    started = time.perf_counter()
    deadline[0] = started + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    flat = np.array([t for ts in times for t in ts]) * 1e3
    n = len(flat)
    pct = np.percentile(flat, [50, 95, 99]) if n else np.full(3, np.nan)
    mean_size = int(np.mean([s for ss in sizes for s in ss])) if n else 0
    return Result(target, n, len(errors), round(wall, 3), *(round(float(p), 3) for p in pct),
                  round(n / wall, 1) if wall > 0 else 0.0, mean_size, errors[0] if errors else "")


def get_json(base_url: str, path: str) -> tuple[int, object]:
    """(status, JSON body or the text) of one GET."""
    with client(base_url) as http:
        answer = http.get(path)
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text[:300]
