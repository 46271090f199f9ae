"""Browsing the gallery in real Chromium (tests/browser/conftest.py): the home page shows pictures, the browse
form filters to the top tier present, a vector's page shows its decoded picture and chart, the live feed script
runs without errors, and at phone width (390 px) no page scrolls sideways. Screenshots go to
/tmp/multiverse-gallery-*.png for a person to look at."""

from __future__ import annotations

import re

import pytest

from tests.http.stack import OUTLIER_FRAME, _save, serve_gallery, state

SHOTS = "/tmp/multiverse-gallery-{}.png"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def g(tmp_path_factory):
    with serve_gallery(tmp_path_factory.mktemp("browse")) as gallery:
        yield gallery


def _watch(page) -> list[str]:
    """Uncaught errors and console errors (a script that fails, a Content-Security-Policy refusal) of ``page``."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _decoded(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"{page.url} scrolls sideways at {width[1]} px: content is {width[0]} px wide"


def test_home_filter_to_top_tier_and_open_a_vector(g, context) -> None:
    page = context.new_page()
    errors = _watch(page)
    page.goto(g.url + "/")
    page.wait_for_load_state("networkidle")
    first_card = page.locator(".space .card img").first
    first_card.wait_for()
    assert _decoded(page, ".space .card img")
    page.screenshot(path=SHOTS.format("home"), full_page=True)

    tiers = page.eval_on_selector_all(".space .badge", "els => els.map(e => e.textContent.trim())")
    order = ["legendary", "epic", "rare", "uncommon", "common"]
    top = next(t for t in order if t in tiers)
    page.click("nav >> text=Browse")
    page.select_option("select[name=tier]", top)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"/browse\?.*tier=" + top))
    shown = page.eval_on_selector_all(".grid .badge", "els => els.map(e => e.textContent.trim())")
    assert shown and set(shown) == {top}
    page.screenshot(path=SHOTS.format("browse"), full_page=True)

    page.click(".grid .card >> nth=0")
    page.wait_for_url(re.compile(r"/v/[0-9a-f]{64}/(frame|player)/\d+$"))
    page.wait_for_function("() => { const i = document.getElementById('picture'); "
                           "return i.complete && i.naturalWidth > 0; }")
    assert page.locator("svg.chart .here").count() == 1
    assert page.locator(".neighbours .card").count() >= 1
    assert page.locator("[data-action=connect]").count() == 1
    page.wait_for_load_state("networkidle")
    page.screenshot(path=SHOTS.format("vector"), full_page=True)
    assert not errors, errors


def test_the_live_feed_shows_a_new_find_and_me_asks_to_connect(g, context) -> None:
    page = context.new_page()
    errors = _watch(page)
    page.goto(g.url + "/")
    page.wait_for_function("() => document.getElementById('feed-note').textContent.startsWith('Live')")
    fresh = _save(g.app, g.public, state(7, [None] * 4), parent=g.snapshots[-1])  # a new outlier frame and player
    page.wait_for_selector(f"#feed .card[href^='/v/{fresh}/']", timeout=60_000)
    assert page.eval_on_selector("#feed .card img", "img => img.getAttribute('src')").startswith("/pictures/")
    page.goto(g.url + "/me")
    assert page.locator("#me-signed-out").is_visible()
    assert "Connect your wallet to see your tokens" in page.inner_text("#me-signed-out")
    assert not errors, errors


def test_pages_fit_a_phone(g, browser) -> None:
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        latest = g.snapshots[-1]
        for name, path in (("home", "/"), ("browse", "/browse?kind=player"), ("vector", f"/v/{latest}/frame/{OUTLIER_FRAME}"),
                           ("world", f"/w/{g.public}"), ("me", "/me"), ("missing", "/no/such/page")):
            page.goto(g.url + path)
            page.wait_for_load_state("networkidle")
            _no_sideways_scroll(page)
            page.screenshot(path=SHOTS.format(f"phone-{name}"), full_page=True)
        page.goto(g.url + f"/v/{latest}/frame/{OUTLIER_FRAME}")
        page.wait_for_load_state("networkidle")
        assert _decoded(page, "#picture")
    finally:
        ctx.close()
