"""`multiverse up` serves the gateway by default: its URL near the top of the banner, the API answering there, the
sign-in domain, token base URI and JSON-RPC CORS origin following it unless set; "off" serves none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from multiverse.cli.up import with_gallery
from multiverse.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_with_gallery_points_sign_in_base_uri_and_cors_at_the_gateway():
    s = with_gallery(Settings.from_env({}), "http://127.0.0.1:8081")
    assert s.market.market.signin.domain == "127.0.0.1:8081" and s.market.market.signin.uri == "http://127.0.0.1:8081"
    assert s.market.chain.base_uri == "http://127.0.0.1:8081/token/"
    assert "http://127.0.0.1:8081" in s.market.rpc_cors_origins
    mine = Settings.from_env({"MULTIVERSE_MARKET_SIGNIN_DOMAIN": "g.example", "MULTIVERSE_MARKET_SIGNIN_URI":
                              "https://g.example", "MULTIVERSE_CHAIN_BASE_URI": "https://g.example/t/"})
    kept = with_gallery(mine, "http://127.0.0.1:8081")
    assert kept.market.market.signin.domain == "g.example" and kept.market.chain.base_uri == "https://g.example/t/"
    assert Settings.from_env({"MULTIVERSE_HTTP_LISTEN": "off"}).http_listen == ""


def _up(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "MULTIVERSE_CHAIN_RPC_LISTEN": "127.0.0.1:0", "MULTIVERSE_MARKET_POLL_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "multiverse.cli", "up", "--no-demo", "--data", str(tmp_path),
                             "--listen", "127.0.0.1:0", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("try, from another terminal"):
            break
    return proc, lines


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_serves_the_gallery_and_prints_its_url(tmp_path):
    proc, lines = _up(tmp_path, "--http", "127.0.0.1:0")
    try:
        banner = lines[lines.index("Multiverse is serving"):]
        assert banner[1].startswith("gallery    http://127.0.0.1:"), lines
        url = banner[1].split()[1]
        assert httpx.get(f"{url}/api/spaces", timeout=10).json() == {"items": []}
        chain = httpx.get(f"{url}/api/chain", timeout=10).json()
        assert chain["rpc_url"].startswith("http://127.0.0.1:")
        cors = httpx.options(chain["rpc_url"], headers={"Origin": url, "Access-Control-Request-Method": "POST"},
                             timeout=10)
        assert cors.headers.get("access-control-allow-origin") == url
    finally:
        _stop(proc)


def test_http_off_serves_no_gallery(tmp_path):
    proc, lines = _up(tmp_path, "--http", "off")
    try:
        assert "Multiverse is serving" in lines and not any(x.startswith("gallery") for x in lines), lines
    finally:
        _stop(proc)
