"""Real Chromium for the browser tests: Debian's ``chromium`` (installed by ``make bootstrap`` where missing) driven by
the ``playwright`` package through ``executable_path``; no browser download, no network.

``browser`` is one Chromium per test session; each test opens its own contexts (``browser.new_context()``), so
cookies, storage and injected wallets never leak between tests. Without /usr/bin/chromium the tests are skipped
on a developer machine and fail under CI=true, where a missing browser is a broken bootstrap, not a pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("MULTIVERSE_CHROMIUM", "/usr/bin/chromium"))
# Headless, no GPU, and nothing that reaches the network on its own (updates, sync, QUIC probes).
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_chromium() -> None:
    """Skip (or, under CI=true, fail) when Chromium is not installed."""
    if CHROMIUM.is_file():
        return
    message = f"{CHROMIUM} is missing: run `make bootstrap` (installs Debian's chromium) or apt-get install chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (a playwright ``Browser``)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser):
    """A fresh browser context (own storage and cookies) for one test, phone-agnostic desktop size."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()
