"""GET /token/0x{64 hex}: a token's ERC-721 metadata (multiverse.market.metadata), the answer of its tokenURI.

404 for an id no claim has minted here (or when this gateway runs without a market); 400 for a malformed id,
naming it. Cached briefly: the metadata is fixed at mint but for what visibility changes (a world made public
or private)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from multiverse.errors import InvalidArgument, NotFound
from multiverse.market.metadata import token_metadata
from services.http.app import Gateway, gateway

router = APIRouter(tags=["tokens"])
CACHE = "public, max-age=60"
_HEX = frozenset("0123456789abcdef")


@router.get("/token/{token}", summary="A token's ERC-721 metadata (its tokenURI)")
def metadata(token: str, gw: Gateway = Depends(gateway)) -> JSONResponse:
    """``token``: ``0x`` and the token id as 64 hex digits, as ``tokenURI`` names it."""
    token_id = token.lower().removeprefix("0x")
    if not token.lower().startswith("0x") or len(token_id) != 64 or not set(token_id) <= _HEX:
        raise InvalidArgument("token", token, "give 0x and the token id as 64 hex digits, as tokenURI names it")
    if gw.app.market is None:
        raise NotFound(f"no token {token_id} has been claimed here: this gateway runs without a market")
    row = gw.app.market.market.get_token(token_id)
    try:  # "" reads as the public does: a private world stays unnamed
        world: str | None = gw.app.meta.get_snapshot(row.snapshot, reader="").world
    except NotFound:
        world = None
    return JSONResponse(token_metadata(row, world=world, base_url=gw.base_url), headers={"Cache-Control": CACHE})
