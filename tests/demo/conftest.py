"""An embedded stack (SQLite + local blobs) serving gRPC on a free port, with its admin key; ``market_stack`` also
runs the market on the in-process EVM (contracts deployed at start-up, JSON-RPC for wallets on a free port)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from multiverse.app import App
from multiverse.client import Client
from multiverse.config import Limits, Settings
from multiverse.store.auth import ensure_admin_key
from services.server import build_server


@dataclass
class Stack:
    address: str
    admin_key: str
    admin: Client
    data: Path
    app: App


@contextmanager
def serve(data: Path, market: Any = None) -> Iterator[Stack]:
    settings = Settings(data_dir=data, grpc_addr="127.0.0.1:0", limits=Limits(max_state_bytes=64 << 20), workers=8,
                        market=market)
    app = App.open(settings)
    try:
        token = ensure_admin_key(app.meta, settings.data_dir)
        server, port = build_server(app, settings.grpc_addr)
        server.start()
        address = f"127.0.0.1:{port}"
        admin = Client(address, token)
        try:
            yield Stack(address, token, admin, settings.data_dir, app)
        finally:
            admin.close()
            server.stop(grace=None).wait()
    finally:
        app.close()


@pytest.fixture
def stack(tmp_path):
    """Without a market (as with MULTIVERSE_MARKET=off)."""
    with serve(tmp_path / "data") as s:
        yield s


@pytest.fixture
def market_stack(tmp_path):
    """With the market on the in-process chain; the indexer polls every 0.2 s."""
    from multiverse.market.wiring import MarketSettings

    with serve(tmp_path / "data", MarketSettings(rpc_listen="127.0.0.1:0", poll_s=0.2)) as s:
        yield s
