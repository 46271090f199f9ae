"""The wallet part of the gateway: sign-in (EIP-4361), my holdings, claims, listings, the owner's download, and the
contract ABI fragments a browser wallet needs to send the exchange's buy and cancel transactions itself.

Each route decodes its body (bounded pydantic models, wallet_json.py), calls the domain (multiverse.market) as the
signed-in wallet (``wallet_of``) and encodes the answer. Routes are plain functions: FastAPI runs them on its
thread pool, since the market's calls wait on the chain and the database. Request bodies are bounded in size before
they are parsed (``install``: 16 KiB on these routes; the largest real one, a sign-in message, is under 5 KiB)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from multiverse.chain.artifacts import load_artifact
from multiverse.market import VectorRef
from multiverse.market.mine import MAX_LIMIT, Mine
from multiverse.store.auth import Principal
from services.http.app import Gateway, gateway, wallet_of
from services.http.errors import error_body
from services.http.wallet_json import (
    ClaimBody,
    PrepareBody,
    SignInBody,
    SubmitBody,
    claimable_json,
    listing_json,
    token_json,
    typed_data_json,
)

router = APIRouter(tags=["wallet"])
STATEMENT = "Sign in to Multiverse"
MAX_BODY = 16 * 1024
BODY_PATHS = ("/api/signin", "/api/claims", "/api/listings")
# What a browser calls on the chain itself (the rest goes through this API): approve the exchange, buy, cancel.
TOKEN_CALLS = ("setApprovalForAll", "isApprovedForAll", "ownerOf", "getApproved", "tokenURI", "balanceOf")
EXCHANGE_CALLS = ("buy", "cancel", "incrementCounter", "counterOf", "isUsed", "hashListing", "creditOf", "withdraw")
EXCHANGE_EVENTS = ("Sold", "Cancelled", "CounterIncremented")


def _market(gw: Gateway) -> Any:
    from multiverse.errors import FailedPrecondition

    if gw.app.market is None:
        raise FailedPrecondition("this service runs without a market (MULTIVERSE_MARKET=off): no wallets here")
    return gw.app.market


@router.post("/api/signin/nonce", summary="A single-use nonce and what the wallet's EIP-4361 message must name")
def signin_nonce(request: Request, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    stack = _market(gw)
    c = stack.signin.config
    client = request.client.host if request.client else ""
    return {"nonce": stack.signin.nonce(client=client), "domain": c.domain, "uri": c.uri,
            "chain_id": stack.signin.chain_id, "version": "1", "statement": STATEMENT,
            "expires_in_s": c.nonce_ttl_s}


@router.post("/api/signin", summary="Sign in with a signed EIP-4361 message: a session token (Bearer mvw_...)")
def signin(body: SignInBody, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    token, session = _market(gw).signin.sign_in(body.message, body.signature)
    return {"token": token, "address": session.address, "expires_at": session.expires_at}


@router.get("/api/me", summary="My tokens, my active listings, and the rare vectors I discovered and may claim")
def me(limit: int = Query(0, ge=0, le=MAX_LIMIT, description="claimables at most (0: 20)"),
       who: Principal = Depends(wallet_of), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    stack = _market(gw)
    held = Mine(stack.market, gw.app.rarity).of(who, limit=limit)
    return {
        "address": held.address,
        "tokens": [token_json(t, stack.db.token) for t in held.tokens],
        "listings": [listing_json(x, stack.chain.contracts.exchange) for x in held.listings],
        "claimable": [claimable_json(c) for c in held.claimable],
    }


@router.post("/api/claims", summary="Claim a rare vector I discovered: minted to my wallet as a token")
def claim(body: ClaimBody, who: Principal = Depends(wallet_of), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    stack = _market(gw)
    token = stack.market.claim(who, VectorRef(body.space, body.snapshot, body.kind, body.index))
    return token_json(token, stack.db.token)


@router.post("/api/listings/prepare", summary="The EIP-712 typed data of a listing of my token, for my wallet to sign")
def prepare_listing(body: PrepareBody, who: Principal = Depends(wallet_of),
                    gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    from multiverse.market import ListingRow

    stack = _market(gw)
    prepared = stack.market.prepare_listing(who, body.token_id, int(body.price_wei), body.expiry)
    row = ListingRow(prepared.digest, stack.signin.chain_id, prepared.listing, "", "unsigned", 0.0)
    return {"listing": listing_json(row, stack.chain.contracts.exchange),
            "typed_data": typed_data_json(prepared.typed_data), "digest": prepared.digest}


@router.post("/api/listings", summary="Submit a signed listing: checked as the exchange will, then active")
def submit_listing(body: SubmitBody, who: Principal = Depends(wallet_of),
                   gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    stack = _market(gw)
    row = stack.market.submit_listing(who, body.listing.to_listing(), bytes.fromhex(body.signature[2:]))
    return listing_json(row, stack.chain.contracts.exchange)


@router.get("/api/tokens/{token_id}/matrix", summary="The token's full matrix (canonical bytes): its owner only",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def matrix(token_id: str, who: Principal = Depends(wallet_of), gw: Gateway = Depends(gateway)) -> Response:
    token, data = _market(gw).market.download(who, token_id[:80])
    headers = {"X-Token-Id": token.token_id, "X-Dtype": token.dtype, "X-Shape": ",".join(map(str, token.shape)),
               "Content-Disposition": f'attachment; filename="{token.token_id}.bin"', "Cache-Control": "no-store"}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/api/wallet/abi", summary="The ABI fragments a browser wallet calls: the token's and the exchange's")
def abi() -> dict[str, Any]:
    return _abi()


@lru_cache(maxsize=1)
def _abi() -> dict[str, Any]:
    def pick(name: str, functions: tuple[str, ...], events: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [item for item in load_artifact(name).abi
                if (item.get("type") == "function" and item.get("name") in functions)
                or (item.get("type") == "event" and item.get("name") in events) or item.get("type") == "error"]

    return {"token_abi": pick("RareVector", TOKEN_CALLS),
            "exchange_abi": pick("Exchange", EXCHANGE_CALLS, EXCHANGE_EVENTS)}


def install(api: FastAPI, gw: Gateway) -> None:
    """Bound the wallet routes' request bodies before anything parses them."""
    api.add_middleware(BodyLimit, paths=BODY_PATHS, limit=MAX_BODY)


class BodyLimit:
    """ASGI middleware: a request to one of ``paths`` (prefixes) whose body passes ``limit`` bytes is answered 413
    in the API's error shape, whether it declares a Content-Length or streams its body in chunks."""

    def __init__(self, app: Any, paths: tuple[str, ...], limit: int) -> None:
        self.app, self.paths, self.limit = app, paths, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def bounded() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI passes an HTTPException from reading the body to the error mapping
                raise _TooLarge(413, f"the request body is over {self.limit} bytes: send at most {self.limit} "
                                     "bytes of JSON")
            return message

        try:
            await self.app(scope, bounded, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = error_body("INVALID_ARGUMENT", f"the request body is over {self.limit} bytes", field="body",
                          value=f"over {self.limit} bytes", fix=f"send at most {self.limit} bytes of JSON")
        body["error"]["status"] = 413
        await JSONResponse(body, status_code=413)(scope, receive, send)


class _TooLarge(HTTPException):
    pass
