"""GET /api/feed: server-sent events of new rare finds in public worlds only, over the rarity service's watch;
bad filters are 400 before any stream starts; past the cap a feed is refused with 429."""

from __future__ import annotations

import json
import threading

import httpx

from multiverse.store.store import SaveRequest
from tests.http.stack import serve_gallery, state
from tests.market.world import ALPHA


def test_a_save_to_a_public_world_streams_its_rare_finds_and_a_private_one_none(tmp_path):
    with serve_gallery(tmp_path, http_max_feeds=1) as g:
        events: list[dict] = []
        started = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{g.url}/api/feed", params={"tier": "rare"}, timeout=30) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                for line in r.iter_lines():
                    started.set()
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
                        if len(events) >= 1:
                            return

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        assert started.wait(10)
        busy = httpx.get(f"{g.url}/api/feed", timeout=10)  # the one feed allowed is open
        assert busy.status_code == 429 and busy.headers["retry-after"]
        for world, seed in (("priv", 8), ("pub", 9)):
            data = state(seed, [None] * 4)
            head = g.app.store.heads(world)["main"]
            g.app.store.save(ALPHA, SaveRequest(world=world, size=len(data), expected_parent=head), [data])
        t.join(30)
        assert events and all(e["world"] == "pub" for e in events)
        assert {"snapshot", "kind", "index", "tier", "picture", "url"} <= set(events[0])
        assert httpx.get(f"{g.url}/api/feed", params={"tier": "mythic"}, timeout=10).status_code == 400
