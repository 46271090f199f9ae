"""The gallery's pages over real HTTP (uvicorn serving the embedded App, tests/http/stack.py): each page answers
200 with its key elements and the wallet hooks, only public worlds ever show, unknown ids answer the HTML 404 page
(the API's stay JSON), empty states say what to do next, and hostile text is escaped."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote

import httpx
import pytest

from multiverse.market import ROLE_WALLET, VectorRef
from multiverse.store.auth import Principal
from tests.chain.harness import ETHER
from tests.http.stack import OUTLIER_FRAME, OUTLIER_PLAYER, serve_gallery


@pytest.fixture(scope="module")
def g(tmp_path_factory):
    with serve_gallery(tmp_path_factory.mktemp("pages")) as gallery:
        yield gallery


def get(g, path: str, **params) -> httpx.Response:
    return httpx.get(g.url + path, params=params or None, timeout=30)  # {} would drop the path's own query


def hooks_everywhere(text: str) -> None:
    assert '<button type="button" class="connect" data-action="connect">' in text
    assert '<div id="wallet-status" class="wallet-status" aria-live="polite">' in text
    assert '<script type="module" src="/static/wallet.js"></script>' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing from another host: no CDN


def test_home_shows_the_rarest_public_vectors_and_the_feed(g) -> None:
    r = get(g, "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    hooks_everywhere(r.text)
    latest = g.snapshots[-1]
    assert f'src="/pictures/{latest}/frame/{OUTLIER_FRAME}.png"' in r.text  # the rarest frame, as a picture
    assert f'href="/v/{latest}/frame/{OUTLIER_FRAME}"' in r.text
    assert f'src="/pictures/{latest}/player/{OUTLIER_PLAYER}.png"' in r.text  # and the rarest player
    assert re.search(r'class="badge tier-(legendary|epic|rare)"', r.text)
    assert 'id="feed"' in r.text and '/static/feed.js' in r.text
    assert g.hidden not in r.text and g.private not in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_browse_filters_and_pages_with_the_cursor(g) -> None:
    first = get(g, "/browse")
    assert first.status_code == 200
    hooks_everywhere(first.text)
    assert '<form class="filters" method="get" action="/browse">' in first.text
    cards = re.findall(r'class="card" href="(/v/[^"]+)"', first.text)
    assert cards and not any(g.hidden in c for c in cards)
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert nxt, "two public snapshots of 24 frames fill more than one page"
    second = get(g, html.unescape(nxt.group(1)))
    more = re.findall(r'class="card" href="(/v/[^"]+)"', second.text)
    assert second.status_code == 200 and more and not set(more) & set(cards)

    players = get(g, "/browse", kind="player", sort="recent")
    assert players.status_code == 200
    found = re.findall(r'class="card" href="(/v/[^"]+)"', players.text)
    assert found and all("/player/" in c for c in found)
    assert '<option value="player" selected>' in players.text
    assert '<option value="recent" selected>' in players.text

    top = re.search(r'class="badge tier-([a-z]+)"', first.text).group(1)  # rarest first: the top tier present
    only = get(g, "/browse", tier=top)
    tiers = set(re.findall(r'class="badge tier-([a-z]+)"', only.text))
    assert tiers == {top} and f'<option value="{top}" selected>' in only.text


def test_browse_bad_filters_answer_html_errors_naming_the_field(g) -> None:
    r = get(g, "/browse", tier="mythic")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "tier" in r.text and "legendary" in r.text  # the field and the fix
    hidden = get(g, "/browse", world=g.private)
    assert hidden.status_code == 404 and g.hidden not in hidden.text
    nothing = get(g, "/browse", world="pub", tier="legendary", sort="recent", cursor="")
    assert nothing.status_code == 200


def test_vector_page_shows_score_chart_neighbours_lineage_and_claim(g) -> None:
    first, latest = g.snapshots
    r = get(g, f"/v/{latest}/frame/{OUTLIER_FRAME}")
    assert r.status_code == 200
    hooks_everywhere(r.text)
    assert f'<img id="picture" src="/pictures/{latest}/frame/{OUTLIER_FRAME}.png"' in r.text
    for label in ("Score", "Percentile", "Tier", "k-th neighbour distance", "Index version", "N"):
        assert f"<dt>{label}</dt>" in r.text
    assert '<svg class="chart"' in r.text and 'class="here"' in r.text  # where its score sits
    neighbours = re.search(r'<section class="neighbours">(.*?)</section>', r.text, re.S).group(1)
    assert re.search(r'class="card" href="/v/[0-9a-f]{64}/frame/\d+"', neighbours)
    assert g.hidden not in r.text
    tree = re.search(r'<section class="lineage">(.*?)</section>', r.text, re.S).group(1)
    assert re.search(rf'src="/pictures/{first}/frame/\d+\.png"', tree)  # the parent, as a picture
    assert (f'data-action="claim" data-snapshot="{latest}" data-kind="frame" data-index="{OUTLIER_FRAME}"'
            in r.text)


def test_a_token_shows_owner_listings_in_ether_and_its_hooks(g) -> None:
    latest = g.snapshots[-1]
    bob = g.wallets["bob"]
    market, chain = g.app.market.market, g.app.market.chain
    who = Principal(bob.address, ROLE_WALLET)
    token = market.claim(who, VectorRef(g.space, latest, "player", OUTLIER_PLAYER))
    bob.transact("approve", chain.token_contract.functions.setApprovalForAll(chain.contracts.exchange, True))
    prepared = market.prepare_listing(who, token.token_id, price=ETHER * 3 // 2)
    market.submit_listing(who, prepared.listing, bob.sign(prepared.listing))

    r = get(g, f"/v/{latest}/player/{OUTLIER_PLAYER}")
    assert r.status_code == 200
    assert bob.address in r.text
    assert "1.5 ETH" in r.text
    assert f'data-action="download" data-token-id="{token.token_id}"' in r.text
    # the owner's controls are hidden until the wallet signed in is that owner (wallet.js shows them)
    owner = token.owner
    assert (f'<form class="list-form" data-action="list" data-token-id="{token.token_id}" data-owner="{owner}" '
            'hidden>') in r.text
    assert 'name="price"' in r.text and 'data-action="claim"' not in r.text
    buy = re.search(r'data-action="buy" data-listing="([^"]+)"', r.text)
    listing = json.loads(html.unescape(buy.group(1)))
    assert listing["price"] == str(ETHER * 3 // 2) and listing["signature"].startswith("0x")
    assert listing["seller"].lower() == bob.address.lower()
    assert re.search(r'data-action="cancel" data-listing="[^"]+" data-owner="%s" hidden' % listing["seller"], r.text)


def test_world_page_shows_snapshots_over_time_parents_and_children(g) -> None:
    first, latest = g.snapshots
    r = get(g, f"/w/{g.public}")
    assert r.status_code == 200
    hooks_everywhere(r.text)
    for snapshot in (first, latest):
        assert re.search(rf'src="/pictures/{snapshot}/frame/\d+\.png"', r.text)
    assert "Parents" in r.text and "Children" in r.text
    assert r.text.index(latest) < r.text.index(first) or r.text.index(first) < r.text.index(latest)


def test_me_page_asks_to_connect(g) -> None:
    r = get(g, "/me")
    assert r.status_code == 200
    hooks_everywhere(r.text)
    assert "Connect your wallet to see your tokens" in r.text and "/static/me.js" in r.text


def test_unknown_and_private_ids_answer_the_html_404_page(g) -> None:
    for path in (f"/v/{'0' * 64}/frame/0", f"/v/{g.hidden}/frame/0", f"/w/{g.private}", "/w/nowhere",
                 f"/v/{g.snapshots[0]}/frame/99999", f"/v/{g.snapshots[0]}/bogus/0", "/v/x/frame/-1",
                 "/no/such/page"):
        r = get(g, path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "Not found" in r.text, path
    # a private world's snapshot reads exactly as one that does not exist
    unknown, hidden = get(g, f"/v/{'0' * 64}/frame/0").text, get(g, f"/v/{g.hidden}/frame/0").text
    assert hidden.replace(g.hidden, "ID") == unknown.replace("0" * 64, "ID")
    api = get(g, "/api/no-such-route")
    assert api.status_code == 404 and api.json()["error"]["code"] == "NOT_FOUND"


def test_hostile_text_is_escaped(g) -> None:
    hostile = '"><script>alert(1)</script>'
    for path, params in (("/browse", {"world": hostile}), ("/w/" + quote(hostile, safe=""), {}),
                         ("/browse", {"tier": hostile}), ("/browse", {"cursor": hostile})):
        r = get(g, path, **params)
        assert r.status_code in (400, 404), (path, r.status_code)
        assert "<script>alert(1)" not in r.text
    assert get(g, "/browse", cursor="x" * 5000).status_code == 400


def test_static_files_are_served(g) -> None:
    for name, kind in (("gallery.css", "text/css"), ("feed.js", "javascript"), ("me.js", "javascript"),
                       ("cards.js", "javascript")):
        r = get(g, f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"], name
