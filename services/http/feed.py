"""The live feed (part ``feed``): ``GET /api/feed`` streams each newly scored rare vector of a public world as a
server-sent event (``event: rare`` and ``data: <VectorCard JSON>``), over the rarity service's watch
(``VisibleRarity.watch`` as the anonymous principal).

The watch is a blocking generator, so it runs in a worker thread that hands each find to the response's event loop
through an asyncio queue. A comment line (``: keep-alive``) goes out every ``HEARTBEAT_S`` seconds so proxies keep
the connection open and a client that went away is noticed; the thread stops within a poll period of that. At
most ``Settings.http_max_feeds`` feeds are open at once; past that a client gets 429 with ``Retry-After``."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from multiverse.errors import ResourceExhausted
from multiverse.gallery import PUBLIC, VectorCard
from multiverse.rarity.visible import VisibleRarity
from services.http.app import Gateway, gateway

router = APIRouter(prefix="/api", tags=["public"])
HEARTBEAT_S = 15.0
log = logging.getLogger("multiverse.http")


class Feeds:
    """How many feeds are open, against a cap."""

    def __init__(self, cap: int) -> None:
        self.cap, self.open, self._lock = cap, 0, threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.open >= self.cap:
                raise ResourceExhausted(f"{self.open} live feeds are open, the most this gateway serves at once: "
                                        "retry later, or poll GET /api/rare?sort=recent")
            self.open += 1

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def install(_api: FastAPI, gw: Gateway) -> None:
    gw.extras["feed"] = Feeds(gw.app.settings.http_max_feeds)


@router.get("/feed", summary="Server-sent events: each new rare find of a public world (event: rare)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "an endless event stream"}})
async def feed(request: Request, gw: Annotated[Gateway, Depends(gateway)],
               space: Annotated[str, Query(max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$|^$")] = "",
               kind: Literal["", "frame", "player"] = "",
               tier: Literal["", "common", "uncommon", "rare", "epic", "legendary"] = "") -> StreamingResponse:
    if space:
        gw.app.store.get_space(space)  # NotFound before the stream starts
    feeds: Feeds = gw.extras["feed"]
    feeds.enter()
    return StreamingResponse(_events(request, gw, feeds, space, kind, tier), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, gw: Gateway, feeds: Feeds, space: str, kind: str, tier: str
                  ) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    found: asyncio.Queue = asyncio.Queue(maxsize=256)
    stop = threading.Event()
    visible = VisibleRarity(gw.app.rarity)

    def pump() -> None:  # the worker thread: the blocking watch, each find handed to the loop
        try:
            for name, score in visible.watch(PUBLIC, space, kind, tier, stop=stop.is_set):
                if score.id is None:
                    continue
                card = json.dumps(VectorCard.of(name, score).to_json(), separators=(",", ":"))
                loop.call_soon_threadsafe(_offer, found, card)
        except Exception:  # the watch failed (the space went away): end the stream, the cause in the log
            log.exception("the live feed's watch ended with an error")
        finally:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_offer, found, None)

    thread = threading.Thread(target=pump, name="http-feed", daemon=True)
    thread.start()
    try:
        yield ": connected\n\n"
        while True:
            try:
                card = await asyncio.wait_for(found.get(), HEARTBEAT_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if card is None:
                return
            yield f"event: rare\ndata: {card}\n\n"
    finally:
        stop.set()
        feeds.leave()


def _offer(q: asyncio.Queue, item: str | None) -> None:
    """Put without blocking the loop: a client too slow to take 256 finds misses the oldest."""
    if q.full():
        q.get_nowait()
    q.put_nowait(item)
