"""The gateway's FastAPI application: one ``Gateway`` (the domain objects and where the gateway is reached) shared
by every router, the error mapping installed once, the routers of each part included in one place.

Each part of the gateway is one module with a module-level ``router`` (a FastAPI ``APIRouter``); a route reaches
the domain through ``Depends(gateway)``. Public reads carry no key; wallet calls carry the session token from
sign-in as ``Authorization: Bearer mvw_...`` (``wallet_of``), never a cookie, so no page of another site can make
a signed-in browser act (no CSRF)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from multiverse.app import App
from multiverse.errors import FailedPrecondition, Unauthenticated
from multiverse.store.auth import Principal
from services.http.errors import install_errors

# The parts, in the order their routes are matched: the API first, the pages (with their catch-all 404) last.
PARTS = ("api", "wallet", "pictures", "metadata", "feed", "pages")
API_TITLE = "Multiverse"
API_VERSION = "1"


@dataclass
class Gateway:
    """What every route reaches: ``app`` (the domain objects, as for gRPC), ``base_url`` (how browsers and wallets
    reach this gateway, e.g. ``http://127.0.0.1:8080``, no trailing slash), and state the parts keep between
    requests (``extras``: each part keeps its own under its module name)."""

    app: App
    base_url: str
    extras: dict[str, Any] = field(default_factory=dict)


def gateway(request: Request) -> Gateway:
    """The Gateway of the application serving ``request`` (a FastAPI dependency)."""
    return request.app.state.gateway


_BEARER = HTTPBearer(auto_error=False, description="the session token from POST /api/signin (mvw_...)")


def wallet_of(gw: Gateway = Depends(gateway),
              credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> Principal:
    """The signed-in wallet a call speaks for (a FastAPI dependency): Unauthenticated without a valid session."""
    market = gw.app.market
    if market is None:
        raise FailedPrecondition("this service runs without a market (MULTIVERSE_MARKET=off): nothing to sign in to")
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("sign in with your wallet first (POST /api/signin), then send "
                              "'Authorization: Bearer mvw_...'")
    return market.signin.authenticate(credentials.credentials)


def create_app(gw: Gateway) -> FastAPI:
    api = FastAPI(title=API_TITLE, version=API_VERSION, openapi_url="/api/openapi.json", docs_url="/api/docs",
                  redoc_url=None, description="Public reads of rare vectors, worlds, tokens, listings and sales; "
                  "wallet sign-in (EIP-4361), claims, listings and downloads for players.")
    api.state.gateway = gw
    install_errors(api)
    for part in PARTS:
        try:
            module = importlib.import_module(f"services.http.{part}")
        except ModuleNotFoundError as exc:  # a part not built yet in this checkout
            if exc.name != f"services.http.{part}":
                raise
            continue
        if hasattr(module, "install"):
            module.install(api, gw)  # a part with more than routes (static files, middleware)
        if hasattr(module, "router"):
            api.include_router(module.router)
    return api
