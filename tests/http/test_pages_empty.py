"""The gallery's pages before anything is scored (a fresh App, no market): every page answers 200 with an empty
state that says what to do next, and text a game server stored (a world's description) is shown escaped."""

from __future__ import annotations

import httpx
import pytest

from multiverse.app import App
from multiverse.config import Settings
from multiverse.records import PUBLIC
from services.http.app import Gateway, create_app
from services.http.server import HttpServer, bind, url_of
from tests.market.world import ADMIN, SPACE

HOSTILE = '</p><script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("empty")
    sock = bind("127.0.0.1:0", fallback=False)
    url = url_of(sock)
    app = App.open(Settings(data_dir=tmp, grpc_addr="127.0.0.1:0", workers=2, http_rate=1e6, http_burst=10**6))
    server = HttpServer(create_app(Gateway(app, url)), sock).start()
    try:
        yield url, app
    finally:
        server.stop()
        app.close()


def test_home_and_browse_say_what_to_do_next(empty) -> None:
    url, _ = empty
    home = httpx.get(url + "/")
    assert home.status_code == 200
    assert "No rare vectors yet" in home.text and "make run" in home.text and "multiverse snapshot save" in home.text
    browse = httpx.get(url + "/browse")
    assert browse.status_code == 200 and "No rare vectors yet" in browse.text
    assert "no spaces yet" in browse.text


def test_a_world_without_snapshots_says_so_and_escapes_its_description(empty) -> None:
    url, app = empty
    app.store.register_space(ADMIN, SPACE)
    app.store.create_world(ADMIN, "quiet", SPACE.name, owner="alpha", description=HOSTILE, visibility=PUBLIC)
    r = httpx.get(url + "/w/quiet")
    assert r.status_code == 200
    assert "No snapshots yet" in r.text and "None yet" in r.text
    assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text
    assert "<img src=x" not in r.text
    home = httpx.get(url + "/")  # a space with nothing scored: still the empty state, not an error
    assert home.status_code == 200 and "No rare vectors yet" in home.text
    browse = httpx.get(url + "/browse", params={"tier": "legendary"})
    assert browse.status_code == 200 and "Nothing matches these filters" in browse.text
