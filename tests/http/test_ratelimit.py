"""Per-address token buckets on public reads: the bucket's arithmetic with a fake clock, its bounded memory, and a
live gateway answering 429 with Retry-After and the JSON error body past the burst, static files exempt."""

from __future__ import annotations

import httpx

from services.http.ratelimit import Buckets
from tests.http.stack import serve_gallery


def test_bucket_refills_at_its_rate():
    now = [0.0]
    b = Buckets(2.0, 3, clock=lambda: now[0])
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("a") == 0.5  # one token at 2/s
    assert b.take("b") == 0.0  # another address has its own bucket
    now[0] += 0.5
    assert b.take("a") == 0.0 and b.take("a") > 0


def test_memory_is_bounded():
    b = Buckets(1.0, 1, max_clients=100)
    for i in range(1000):
        b.take(f"10.0.{i // 256}.{i % 256}")
    assert len(b) == 100


def test_a_live_gateway_answers_429_past_the_burst(tmp_path):
    with serve_gallery(tmp_path, rate=0.5, burst=3) as g, httpx.Client(base_url=g.url) as http:
        codes = [http.get("/api/worlds").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        refused = http.get("/api/spaces")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "RESOURCE_EXHAUSTED" and refused.json()["error"]["message"]
        assert http.get("/static/none.css").status_code != 429
