"""Token metadata over a live gateway and a real in-process chain: tokenURI of a claimed token answers ERC-721
metadata JSON whose image answers a PNG; the kept chain reopened behind a gateway on another port answers the
new tokenURI; malformed ids are 400, unminted ones 404; a private world's token names no world."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from eth_account import Account

from multiverse.app import App
from multiverse.market.signin import ROLE_WALLET
from multiverse.market.vectors import VectorRef
from multiverse.records import PUBLIC
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest
from services.http.app import Gateway, create_app
from services.http.server import HttpServer, bind, url_of
from tests.chain.harness import key_for
from tests.http.stack import OUTLIER_PLAYER, state
from tests.market.stack import settings as market_settings
from tests.market.world import ADMIN, ALPHA, SPACE

ALICE = Account.from_key(key_for("alice")).address


@dataclass
class Live:
    url: str
    app: App


@contextmanager
def live(data: Path) -> Iterator[Live]:
    """The App on ``data`` behind a gateway on a fresh port, the chain's base URI set to that gateway's /token/."""
    sock = bind("127.0.0.1:0", fallback=False)
    url = url_of(sock)
    base = market_settings(data)
    market = replace(base.market, chain=replace(base.market.chain, base_uri=url + "/token/"))
    app = App.open(replace(base, market=market))
    server = None
    try:
        server = HttpServer(create_app(Gateway(app, url)), sock).start()
        yield Live(url, app)
    finally:
        if server is not None:
            server.stop()
        else:
            sock.close()
        app.close()


def _claim(app: App, world: str, seed: int) -> str:
    data = state(seed, [ALICE, ALICE, None, None])  # player OUTLIER_PLAYER (1) names alice
    record, _ = app.store.save(ALPHA, SaveRequest(world=world, size=len(data)), [data])
    assert app.rarity.wait_scored(record.id, timeout=60)
    alice = Principal(ALICE, ROLE_WALLET)
    return app.market.market.claim(alice, VectorRef(SPACE.name, record.id, "player", OUTLIER_PLAYER)).token_id


def _token_uri(app: App, token_id: str) -> str:
    return app.market.chain.token_contract.functions.tokenURI(int(token_id, 16)).call()


def test_token_uri_answers_metadata_whose_image_is_a_png_also_after_a_move(tmp_path: Path):
    with live(tmp_path) as g:
        g.app.store.register_space(ADMIN, SPACE)
        g.app.store.create_world(ADMIN, "pub", SPACE.name, owner="alpha", visibility=PUBLIC)
        g.app.store.create_world(ADMIN, "priv", SPACE.name, owner="alpha")
        token, hidden = _claim(g.app, "pub", 1), _claim(g.app, "priv", 2)
        uri = _token_uri(g.app, token)
        assert uri == f"{g.url}/token/0x{token}"
        body = httpx.get(uri).json()
        _check(body, g.url, token)
        assert {"trait_type": "World", "value": "pub"} in body["attributes"]
        assert httpx.get(uri).headers["cache-control"] == "public, max-age=60"

        private = httpx.get(_token_uri(g.app, hidden)).json()  # the chain's token, a private world's vector
        assert "image" not in private and "external_url" not in private and "private world" in private["description"]
        assert "World" not in {t["trait_type"] for t in private["attributes"]} and "'priv'" not in str(private)

        assert httpx.get(f"{g.url}/token/0x{'ab' * 32}").status_code == 404  # never minted
        for bad in ("0x12", token, "0x" + "g" * 64, "0x" + token + "00"):
            answer = httpx.get(f"{g.url}/token/{bad}")
            assert answer.status_code == 400 and answer.json()["error"]["field"] == "token", bad
        first = g.url

    with live(tmp_path) as g:  # the kept chain, reopened behind a gateway on another port
        assert g.url != first
        moved = _token_uri(g.app, token)
        assert moved == f"{g.url}/token/0x{token}"
        _check(httpx.get(moved).json(), g.url, token)


def _check(body: dict, url: str, token: str) -> None:
    traits = {t["trait_type"]: t["value"] for t in body["attributes"]}
    assert set(traits) == {"Tier", "Percentile at mint", "Space", "World", "Snapshot", "Index", "Kind", "Discoverer"}
    assert traits["Space"] == SPACE.name and traits["Kind"] == "player" and traits["Index"] == OUTLIER_PLAYER
    assert traits["Discoverer"] == ALICE and 0 <= traits["Percentile at mint"] <= 100
    assert body["name"] and body["description"]
    assert body["external_url"] == f"{url}/v/{traits['Snapshot']}/player/{OUTLIER_PLAYER}"
    assert body["image"].startswith(url + "/pictures/")
    image = httpx.get(body["image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
