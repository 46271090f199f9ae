"""The player's whole trade in real Chromium, as the issue's acceptance test states it: open the home page, filter to
the top tier, open a vector and see its picture decoded, sign in with a wallet (EIP-4361), claim, list (EIP-712
signed in the wallet), then in a second browser context with another wallet buy it (a transaction the wallet sends);
the new owner downloads the matrix and its sha256 is the token id; the old owner is refused.

The wallets are tests/browser/provider.py's injected EIP-1193 provider over the App's JSON-RPC; everything else is
real: the gateway on uvicorn (tests/http/stack.py), the pages, services/http/static/wallet.js (viem), the
in-process EVM with the contracts, the market's indexer. The listed vector's page is screenshot into the test's
temporary directory, or into docs/screenshots/vector.png (the README's picture) with MULTIVERSE_SCREENSHOTS=1, so an
ordinary run never rewrites a tracked file."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.provider import TestWallet
from tests.chain.harness import key_for
from tests.http.stack import serve_gallery

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "vector.png"
TIMEOUT_MS = 30_000
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    with serve_gallery(tmp_path_factory.mktemp("gallery")) as g:
        yield g


def _context(browser, gallery, name: str):
    """A browser context whose pages carry ``name``'s wallet."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    wallet = TestWallet(key_for(name), gallery.app.market.rpc_url)
    wallet.install(context)
    return context, wallet


def _status(page, state: str, contains: str = "") -> str:
    """Wait until #wallet-status says ``state`` (ok or error), optionally with ``contains``; returns its text."""
    page.wait_for_function(
        "([state, text]) => { const s = document.getElementById('wallet-status');"
        " return s && s.dataset.state === state && s.textContent.includes(text); }",
        arg=[state, contains],
    )
    return page.inner_text("#wallet-status")


def _picture_decoded(page, selector: str) -> int:
    page.wait_for_function(
        "sel => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0; }", arg=selector
    )
    return page.eval_on_selector(selector, "i => i.naturalWidth")


def _owner(gallery, token_id: str) -> str:
    return httpx.get(f"{gallery.url}/api/tokens/{token_id}", timeout=10).json()["owner"]


def _wait_owner(gallery, token_id: str, address: str, timeout_s: float = 30) -> None:
    """The gateway reads ownership from the market's index, which follows the chain (the stack's indexer does not
    poll: each round here syncs it, as the poller of ``multiverse up`` does every second)."""
    deadline = time.monotonic() + timeout_s
    while gallery.app.market.indexer.sync() is not None and _owner(gallery, token_id).lower() != address.lower():
        assert time.monotonic() < deadline, f"token {token_id} still owned by {_owner(gallery, token_id)}"
        time.sleep(0.2)


def _wait_status(gallery, token_id: str, status: str, timeout_s: float = 30) -> None:
    """Wait until one of the token's listings has ``status`` in the market's index."""
    deadline = time.monotonic() + timeout_s
    while True:
        gallery.app.market.indexer.sync()
        items = httpx.get(f"{gallery.url}/api/tokens/{token_id}", timeout=10).json()["listings"]
        if status in {item["status"] for item in items}:
            return
        assert time.monotonic() < deadline, items
        time.sleep(0.2)


def _open_top_tier_vector(page, gallery) -> str:
    """Home -> browse the space -> players of the top tier -> the rarest: returns the vector page's URL."""
    page.goto(gallery.url + "/")
    page.click(f"a.more[href*='space={gallery.space}']")
    page.wait_for_url("**/browse?**")
    top = httpx.get(f"{gallery.url}/api/rare", params={"space": gallery.space, "kind": "player", "limit": 1}).json()
    tier = top["items"][0]["tier"]
    page.select_option("select[name=kind]", "player")
    page.select_option("select[name=tier]", tier)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**tier={tier}**")
    badges = [b.strip() for b in page.locator(".grid a.card .badge").all_text_contents()]
    assert badges and set(badges) == {tier}, badges
    page.click(".grid a.card >> nth=0")
    page.wait_for_url("**/v/**")
    return page.url


def test_claim_list_buy_download(browser, gallery, tmp_path) -> None:
    seller_context, seller = _context(browser, gallery, "bob")  # player 1, the outlier, names bob's wallet
    buyer_context, buyer = _context(browser, gallery, "alice")
    try:
        page = seller_context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        url = _open_top_tier_vector(page, gallery)
        assert _picture_decoded(page, "#picture") > 0

        # Sign in (EIP-4361, personal_sign in the wallet) and claim.
        page.click("[data-action=connect]")
        assert seller.address in _status(page, "ok", "Signed in")
        assert page.evaluate("JSON.parse(sessionStorage.getItem('multiverse.session')).address") == seller.address
        page.click("[data-action=claim]")
        _status(page, "ok", "Claimed")
        token_id = page.get_attribute("form[data-action=list]", "data-token-id").removeprefix("0x")
        assert _owner(gallery, token_id).lower() == seller.address.lower()

        # List: approval transaction, typed data signed in the wallet.
        page.fill("form[data-action=list] input[name=price]", "0.25")
        page.click("form[data-action=list] button[type=submit]")
        _status(page, "ok", "Listed")
        assert {"eth_sendTransaction", "eth_signTypedData_v4", "personal_sign"} <= set(seller.calls)
        page.wait_for_selector("[data-action=buy]")
        _picture_decoded(page, "#picture")
        shot = SCREENSHOT if os.environ.get("MULTIVERSE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # Buy from another wallet in another context: the wallet sends the exchange's buy with the price.
        before = buyer.w3.eth.get_balance(buyer.address)
        shopper = buyer_context.new_page()
        shopper.goto(url)
        shopper.click("[data-action=buy]")
        _status(shopper, "ok", "Bought")
        assert buyer.sent, "the purchase went through the buyer's wallet"
        assert before - buyer.w3.eth.get_balance(buyer.address) >= 25 * 10**16
        _wait_owner(gallery, token_id, buyer.address)

        # The new owner downloads the matrix: its sha256 is the token id. Its session is made stale first (as after a
        # service restart): the wallet signs in again by itself.
        shopper.evaluate("a => sessionStorage.setItem('multiverse.session', JSON.stringify("
                         "{token: 'mvw_stale_x', address: a, expires_at: Date.now() / 1000 + 3600}))", buyer.address)
        shopper.reload()
        with shopper.expect_download() as download:
            shopper.click("[data-action=download]")
        saved = tmp_path / "matrix.bin"
        download.value.save_as(saved)
        assert download.value.suggested_filename.removeprefix("0x") == f"{token_id}.bin"
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == token_id
        assert buyer.calls.count("personal_sign") == 2

        # The new owner lists it again and cancels: the exchange's cancel, sent by the wallet.
        shopper.fill("form[data-action=list] input[name=price]", "1")
        shopper.click("form[data-action=list] button[type=submit]")
        _status(shopper, "ok", "Listed")
        sent = len(buyer.sent)
        shopper.click("li.listing:has-text('active') [data-action=cancel]")
        _status(shopper, "ok", "cancelled")
        assert len(buyer.sent) == sent + 1
        _wait_status(gallery, token_id, "cancelled")

        # The old owner is refused, in the page and at the API.
        page.reload()
        page.click("[data-action=download]")
        refused = _status(page, "error")
        assert "owner" in refused.lower(), refused
        token = page.evaluate("window.multiverseWallet.token")
        answer = httpx.get(f"{gallery.url}/api/tokens/{token_id}/matrix", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403
        assert not errors, errors
    finally:
        seller_context.close()
        buyer_context.close()


def test_no_wallet_says_what_to_do(browser, gallery) -> None:
    """Without any wallet in the browser, connecting says how to get one (and nothing breaks)."""
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(gallery.url + "/")
        page.click("[data-action=connect]")
        assert "No wallet found" in _status(page, "error")
    finally:
        context.close()


def test_legacy_wallet_on_another_chain_is_switched(browser, gallery) -> None:
    """A wallet without EIP-6963 (only window.ethereum), sitting on chain 1: the page asks it to switch to the
    market's chain before anything is signed, then signs in."""
    context = browser.new_context(viewport=PHONE)
    wallet = TestWallet(key_for("dave"), gallery.app.market.rpc_url, on_chain=1)
    wallet.install(context, eip6963=False)
    try:
        page = context.new_page()
        page.goto(gallery.url + "/")
        page.click("[data-action=connect]")
        assert wallet.address in _status(page, "ok", "Signed in")
        assert wallet.calls.index("wallet_switchEthereumChain") < wallet.calls.index("personal_sign")
        assert wallet.chain_id == wallet.node_chain_id
        assert page.evaluate("window.multiverseWallet.address") == wallet.address
    finally:
        context.close()
