"""The public JSON API (part ``api``): reads of rare vectors, worlds, snapshots, tokens, listings and sales, with no
key, as the anonymous principal (public worlds only). Each route decodes typed, bounded parameters (so the OpenAPI
document says exactly what is accepted), calls the gallery's read model and returns its JSON; a bad parameter is a
400 naming it and the fix (services/http/errors.py), an unknown or hidden id a 404. No route returns a raw vector.

``install`` adds the per-address rate limit (services/http/ratelimit.py) and the read model to the gateway."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query

from multiverse.gallery import PUBLIC, Gallery
from services.http import ratelimit
from services.http.app import Gateway, gateway

router = APIRouter(prefix="/api", tags=["public"])

NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
HEX64 = r"^[0-9a-f]{64}$"
TOKEN = r"^(0x)?[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"

Space = Annotated[str, Query(max_length=63, pattern=f"{NAME}|^$", description="a latent space ('' : the only one)")]
World = Annotated[str, Query(max_length=63, pattern=f"{NAME}|^$", description="a world's name ('' : any)")]
Tier = Literal["", "common", "uncommon", "rare", "epic", "legendary"]
Kind = Literal["frame", "player"]
Cursor = Annotated[str, Query(max_length=512, pattern=r"^[A-Za-z0-9_.=-]*$",
                              description="the next_cursor of the previous page ('' : the first page)")]
Limit = Annotated[int, Query(ge=1, le=200, description="items a page")]
Snapshot = Annotated[str, Path(min_length=64, max_length=64, pattern=HEX64, description="a snapshot id")]
TokenId = Annotated[str, Path(min_length=64, max_length=66, pattern=TOKEN, description="a token id (64 hex)")]
Address = Annotated[str, Query(max_length=42, pattern=f"{ADDRESS}|^$", description="a wallet address ('' : any)")]


def gallery_of(gw: Gateway = Depends(gateway)) -> Gallery:
    """The gateway's read model (a FastAPI dependency)."""
    return gw.extras["api"]


Reads = Annotated[Gallery, Depends(gallery_of)]


def install(api: FastAPI, gw: Gateway) -> None:
    app = gw.app
    gw.extras["api"] = Gallery(app.store, app.rarity, app.market)
    settings = app.settings
    gw.extras["ratelimit"] = ratelimit.install(api, settings.http_rate, settings.http_burst)


@router.get("/spaces", summary="Latent spaces and how many vectors of each kind are scored")
def spaces(g: Reads) -> dict[str, Any]:
    return {"items": g.spaces()}


@router.get("/rare", summary="Rare vectors of public worlds, rarest or newest first, one page at a time")
def rare(g: Reads, space: Space = "", world: World = "", kind: Kind = "frame", tier: Tier = "",
         sort: Literal["rarity", "recent"] = "rarity", cursor: Cursor = "", limit: Limit = 50) -> dict[str, Any]:
    return g.rare(PUBLIC, space=space, world=world, kind=kind, tier=tier, sort=sort, cursor=cursor,
                  limit=limit).to_json()


@router.get("/vectors/{snapshot}/{kind}/{index}", summary="One vector: score, neighbours, distribution, lineage, token")
def vector(g: Reads, snapshot: Snapshot, kind: Kind,
           index: Annotated[int, Path(ge=0, le=2**31 - 1, description="the row in its snapshot")]) -> dict[str, Any]:
    return g.vector(PUBLIC, snapshot, kind, index).to_json()


@router.get("/worlds", summary="Public worlds by name")
def worlds(g: Reads, space: Space = "", cursor: Annotated[str, Query(max_length=63, pattern=f"{NAME}|^$")] = "",
           limit: Limit = 50) -> dict[str, Any]:
    return g.worlds(PUBLIC, space=space, cursor=cursor, limit=limit).to_json()


@router.get("/worlds/{name}", summary="A world: its snapshots over time, its parents and children")
def world(g: Reads, name: Annotated[str, Path(max_length=63, pattern=NAME)]) -> dict[str, Any]:
    return g.world(PUBLIC, name)


@router.get("/snapshots/{snapshot}", summary="A snapshot record")
def snapshot(g: Reads, snapshot: Snapshot) -> dict[str, Any]:
    return g.snapshot(PUBLIC, snapshot)


@router.get("/tokens", summary="Claimed tokens by id")
def tokens(g: Reads, owner: Address = "", space: Space = "", tier: Tier = "",
           cursor: Annotated[str, Query(max_length=64, pattern=r"^[0-9a-f]{64}$|^$")] = "",
           limit: Limit = 50) -> dict[str, Any]:
    return g.tokens(owner=owner, space=space, tier=tier, cursor=cursor, limit=limit).to_json()


@router.get("/tokens/{token_id}", summary="A token: its owner now, listings and history")
def token(g: Reads, token_id: TokenId) -> dict[str, Any]:
    return g.token(token_id)


@router.get("/tokens/{token_id}/verify",
            summary="Recompute the rarity a token was minted with and check it against the chain's commitment")
def verify(g: Reads, token_id: TokenId) -> dict[str, Any]:
    """{token_id, status: verified | mismatch | unverifiable, reason, differences: [{field, recorded, found, why}],
    recorded, recomputed} (multiverse/market/verify.py)."""
    g.token(token_id)  # 404 for a token not claimed here (or no market), as GET /api/tokens/{token_id}
    return g.market.market.verify(token_id).to_json()


@router.get("/listings", summary="Signed listings, oldest first")
def listings(g: Reads, token_id: Annotated[str, Query(max_length=66, pattern=f"{TOKEN}|^$")] = "",
             seller: Address = "", status: Literal["", "active", "sold", "cancelled", "stale"] = "active",
             limit: Limit = 50) -> dict[str, Any]:
    return g.listings(token_id=token_id, seller=seller, status=status, limit=limit).to_json()


@router.get("/sales", summary="Sales, newest first")
def sales(g: Reads, token_id: Annotated[str, Query(max_length=66, pattern=f"{TOKEN}|^$")] = "",
          limit: Limit = 50) -> dict[str, Any]:
    return g.sales(token_id=token_id, limit=limit).to_json()


@router.get("/chain", summary="The chain wallets use: its id, the contracts and the JSON-RPC URL")
def chain(gw: Annotated[Gateway, Depends(gateway)]) -> dict[str, Any]:
    market = gw.app.market
    if market is None:
        return {"chain_id": None, "token": None, "exchange": None, "rpc_url": None}
    c = market.chain.contracts
    return {"chain_id": c.chain_id, "token": c.token, "exchange": c.exchange, "rpc_url": market.rpc_url or None}
