"""GET /pictures/{snapshot}/{kind}/{index}.png: the picture of a vector (multiverse.pictures), translated to HTTP.

Content addressed: the path names an immutable snapshot's row, so a kept picture is served with an ETag (the
PNG's sha256) and ``Cache-Control: public, max-age=31536000, immutable``; ``If-None-Match`` with that ETag
answers 304. A chart drawn before the space's rarity index held its vector is not kept, and says so
(``no-cache``). Anyone reads pictures of public worlds; an API key (``Authorization: Bearer mvk_...``) also reads
its own and shared worlds' (then ``private`` caching). Bad path parts are 400 naming the part; a private world's
picture is 404 as for no such snapshot. Drawing runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from multiverse.gallery import PUBLIC
from multiverse.pictures import Pictures
from multiverse.store.auth import Principal, authenticate
from services.http.app import Gateway, gateway

router = APIRouter(tags=["pictures"])
IMMUTABLE = "max-age=31536000, immutable"
PNG = "image/png"


def install(_api: FastAPI, gw: Gateway) -> None:
    gw.extras.setdefault("pictures", Pictures.of_app(gw.app))


def caller(request: Request, gw: Gateway = Depends(gateway)) -> Principal:
    """Who reads: the API key's principal for ``Bearer mvk_...``, else the public (a wallet session reads as the
    public does: public worlds only)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.startswith("mvk_"):
        return authenticate(gw.app.meta, token.strip())
    return PUBLIC


@router.get(
    "/pictures/{snapshot}/{kind}/{index}.png",
    response_class=Response,
    responses={200: {"content": {PNG: {}}, "description": "the PNG"}, 304: {"description": "not modified"}},
    summary="The picture of a vector",
)
async def picture(snapshot: str, kind: str, index: str, request: Request, gw: Gateway = Depends(gateway),
                  who: Principal = Depends(caller)) -> Response:
    """``snapshot``: 64 lower-case hex digits; ``kind``: frame or player; ``index``: 0 to 2**31."""
    pictures: Pictures = gw.extras["pictures"]
    found = await run_in_threadpool(pictures.get, who, snapshot, kind, index)
    etag = f'"{found.etag}"'
    if not found.final:
        cache = "no-cache"
    else:
        cache = ("public, " if who is PUBLIC else "private, ") + IMMUTABLE
    headers = {"ETag": etag, "Cache-Control": cache}
    if _matches(request.headers.get("if-none-match", ""), found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.png, media_type=PNG, headers=headers)


def _matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak or strong) or is ``*``."""
    if len(header) > 8192:
        return False
    for item in header.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/").strip('"') == etag:
            return True
    return False
