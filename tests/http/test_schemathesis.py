"""Property-based run of the public HTTP API: schemathesis generates requests from the live gateway's OpenAPI
document (every GET route under /api/ but the endless feed, and the wallet's POSTs without a session). No answer is
a 5xx; every 4xx carries the JSON error body with a message, and a 400 names the parameter and the fix."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

PER_OPERATION = 72  # examples per operation: ~1,080 requests in all over 15 operations


def test_no_5xx_and_every_4xx_explains_itself(gallery):
    schema = schemathesis.openapi.from_url(f"{gallery.url}/api/openapi.json")
    statuses: Counter[int] = Counter()
    ran = 0
    with httpx.Client(base_url=gallery.url, timeout=30) as http:
        for result in schema.get_all_operations():
            op = result.ok()
            if not op.path.startswith("/api/") or op.path == "/api/feed" or (op.method.upper() != "GET"
                                                                              and "matrix" in op.path):
                continue

            @settings(max_examples=PER_OPERATION, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy())
            def check(case) -> None:
                nonlocal ran
                kwargs = case.as_transport_kwargs(base_url=gallery.url)
                r = http.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                                 json=kwargs.get("json"), headers={k: v for k, v in (kwargs.get("headers") or {}).items()
                                                                   if k.lower() != "authorization"})
                ran += 1
                statuses[r.status_code] += 1
                assert r.status_code < 500, (case.method, r.url, r.text[:300])
                if 400 <= r.status_code < 500:
                    err = r.json()["error"]
                    assert err["message"], r.text
                    if r.status_code == 400:
                        assert err.get("field") and err.get("fix"), (r.url, r.text[:300])

            check()
    print(f"schemathesis: {ran} requests, statuses {dict(sorted(statuses.items()))}")
    assert ran >= 1000
