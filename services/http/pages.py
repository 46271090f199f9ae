"""The gallery's pages: server-rendered HTML (Jinja2, autoescaped) over the same read model as ``/api/``.

Each page only translates: query and path -> one call of the read model (multiverse.gallery, as the anonymous
public reader, so only public worlds ever show) -> a template over the read model's JSON (the shapes of the route
contract, so a page shows exactly what the API answers). Browsing works without JavaScript; the live feed
(static/feed.js) and the "me" page (static/me.js) are small page scripts, the wallet (static/wallet.js) binds the
``data-action`` hooks the templates render. Everything the browser loads comes from ``/static/``: no CDN.

A domain error on a page answers an HTML page with the status the JSON API would give (400 with the field and the
fix, 404, ...); any other path that no part serves answers the HTML 404 page, but under ``/api/`` the JSON one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from multiverse import errors
from multiverse.gallery import PUBLIC, Gallery
from multiverse.rarity.calibrate import TIER_NAMES
from services.errors import code_for
from services.http import charts
from services.http.app import Gateway, gateway
from services.http.errors import STATUS
from services.http.pages_format import environment

HERE = Path(__file__).parent
STATIC = HERE / "static"
HOME_CARDS = 12  # rarest vectors per space on the home page
HOME_PLAYERS = 6  # the rarest player vectors per space on the home page
BROWSE_PAGE = 24
HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_PARAM = 512  # longest query value a page accepts (a cursor is under 100 characters)

router = APIRouter(include_in_schema=False)
templates = environment(HERE / "templates")


def install(api: FastAPI, gw: Gateway) -> None:
    """Serve ``/static/`` (stylesheet, page scripts, the wallet bundle) before the pages' catch-all 404."""
    api.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")


def _csp(gw: Gateway) -> str:
    """Only this gateway's own files; the wallet may also reach the chain's JSON-RPC (another port)."""
    connect = "'self'"
    rpc = getattr(gw.app.market, "rpc_url", "") if gw.app.market is not None else ""
    if rpc:
        parts = urlsplit(rpc)
        connect += f" {parts.scheme}://{parts.netloc}"
    return (f"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src {connect}; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def render(gw: Gateway, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": _csp(gw), "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"})


def error_page(gw: Gateway, exc: errors.MultiverseError) -> HTMLResponse:
    """A domain error as the HTML page a browser shows, with the JSON API's status for it."""
    code = code_for(exc).name
    status = STATUS.get(code, 500)
    if status >= 500:
        return render(gw, "error.html", status, title="Something went wrong",
                      message="The gallery could not answer; the cause is in the server's log. Try again shortly.")
    titles = {404: "Not found", 400: "That does not look right", 429: "Slow down a little"}
    fix = exc.fix if isinstance(exc, errors.InvalidArgument) else ""
    return render(gw, "error.html", status, title=titles.get(status, "Not available"), message=exc.message, fix=fix)


def not_found(gw: Gateway, what: str) -> HTMLResponse:
    return render(gw, "error.html", 404, title="Not found",
                  message=f"There is no {what} here, or it belongs to a world that is not public.",
                  fix="Browse the rare vectors of public worlds instead.")


def gallery_of(gw: Gateway) -> Gallery:
    """The read model the pages use (one per gateway, kept in its extras)."""
    found = gw.extras.get("pages")
    if found is None:
        found = gw.extras["pages"] = Gallery(gw.app.store, gw.app.rarity, gw.app.market)
    return found


def _param(name: str, value: str) -> str:
    if len(value) > MAX_PARAM:
        raise errors.InvalidArgument(name, value, f"use at most {MAX_PARAM} characters")
    return value.strip()


@router.get("/", response_class=HTMLResponse)
def home(gw: Gateway = Depends(gateway)) -> HTMLResponse:
    try:
        reads = gallery_of(gw)
        spaces = [{**space, "cards": reads.rare(PUBLIC, space=space["name"], limit=HOME_CARDS).to_json()["items"],
                   "players": reads.rare(PUBLIC, space=space["name"], kind="player",
                                         limit=HOME_PLAYERS).to_json()["items"]}
                  for space in reads.spaces()]
    except errors.MultiverseError as exc:
        return error_page(gw, exc)
    return render(gw, "home.html", nav="home", spaces=spaces)


@router.get("/browse", response_class=HTMLResponse)
def browse(gw: Gateway = Depends(gateway), space: str = "", world: str = "", kind: str = "", tier: str = "",
           sort: str = "", cursor: str = "") -> HTMLResponse:
    try:
        q = {name: _param(name, value) for name, value in
             (("space", space), ("world", world), ("kind", kind), ("tier", tier), ("sort", sort), ("cursor", cursor))}
        reads = gallery_of(gw)
        spaces = reads.spaces()
        if not q["space"] and spaces:
            q["space"] = spaces[0]["name"]  # the first space when none is chosen (the only one, usually)
        page = (reads.rare(PUBLIC, space=q["space"], world=q["world"], kind=q["kind"] or "frame", tier=q["tier"],
                           sort=q["sort"] or "rarity", cursor=q["cursor"], limit=BROWSE_PAGE).to_json()
                if spaces else {"items": [], "next_cursor": ""})
    except errors.MultiverseError as exc:
        return error_page(gw, exc)
    filters = {k: v for k, v in q.items() if v and k != "cursor"}
    next_url = "/browse?" + urlencode({**filters, "cursor": page["next_cursor"]}) if page.get("next_cursor") else ""
    return render(gw, "browse.html", nav="browse", spaces=spaces, tiers=TIER_NAMES, q=q, items=page["items"],
                  next_url=next_url, first_url="/browse?" + urlencode(filters))


@router.get("/v/{snapshot}/{kind}/{index}", response_class=HTMLResponse)
def vector(snapshot: str, kind: str, index: str, gw: Gateway = Depends(gateway)) -> HTMLResponse:
    if not (index.isdigit() and len(index) <= 10 and kind in ("frame", "player") and HEX64.fullmatch(snapshot)):
        return not_found(gw, "such vector")
    try:
        v = gallery_of(gw).vector(PUBLIC, snapshot, kind, int(index)).to_json()
    except errors.MultiverseError as exc:
        return error_page(gw, exc)
    chart = charts.histogram(v.get("distribution"), title=f"score distribution of {v.get('space', '')}")
    return render(gw, "vector.html", v=v, chart=Markup(chart))


@router.get("/w/{name}", response_class=HTMLResponse)
def world(name: str, gw: Gateway = Depends(gateway)) -> HTMLResponse:
    try:
        w = gallery_of(gw).world(PUBLIC, _param("name", name))
    except errors.MultiverseError as exc:
        return error_page(gw, exc)
    return render(gw, "world.html", w=w)


@router.get("/me", response_class=HTMLResponse)
def me(gw: Gateway = Depends(gateway)) -> HTMLResponse:
    return render(gw, "me.html", nav="me")


@router.get("/{path:path}", response_class=HTMLResponse)
def unknown(path: str, gw: Gateway = Depends(gateway)) -> HTMLResponse:
    """The last route: HTML 404 for a page that does not exist; the API's unknown paths stay JSON."""
    if path == "api" or path.startswith("api/"):
        raise errors.NotFound(f"no route GET /{errors.clip(path, 120)}: see /api/openapi.json for the API")
    return not_found(gw, "page")
