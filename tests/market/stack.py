"""The embedded App with the market (in-process EVM, real rarity engine) behind a real gRPC server, shared by the
service, client and CLI tests: one world "w" of server "alpha" with one scored snapshot whose players 0 and 1
name alice's and bob's wallets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from eth_account import Account

from multiverse.app import App
from multiverse.chain import ChainConfig
from multiverse.chain.wallet import LocalWallet
from multiverse.config import Settings
from multiverse.market import MarketConfig, SignInConfig
from multiverse.market.wiring import MarketSettings
from multiverse.store.store import SaveRequest
from multiverse.v1 import market_pb2_grpc
from services.server import build_server
from tests.chain.harness import ETHER, key_for
from tests.market.world import ADMIN, ALPHA, SPACE, make_state

SIGNIN = SignInConfig(domain="gallery.test", uri="https://gallery.test")


def settings(data: Path) -> Settings:
    # The real rarity engine calibrates 4 players too coarsely for tiers to mean much (test_market.py tests the
    # tier gate with a kNN rarity on 24 frames), so any tier may be claimed here.
    market = MarketSettings(
        chain=ChainConfig(minter_key=key_for("minter")),
        market=MarketConfig(min_tier="common", signin=SIGNIN),
        rpc_listen="127.0.0.1:0",
        poll_s=0,
    )
    return Settings(data_dir=data, grpc_addr="127.0.0.1:0", workers=4, market=market)


@dataclass
class Served:
    app: App
    address: str
    channel: grpc.Channel
    wallets: dict[str, LocalWallet]
    snapshot: str

    @property
    def stub(self) -> Any:
        return market_pb2_grpc.MarketStub(self.channel)


@contextmanager
def serve(data: Path, snapshot: str = "") -> Iterator[Served]:
    """The App on ``data``; ``snapshot``: reopen a data directory set up before (that world's snapshot)."""
    app = App.open(settings(data))
    server, port = build_server(app, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        chain = app.market.chain
        wallets = {}
        for name in ("alice", "bob", "dave"):
            chain.fund(Account.from_key(key_for(name)).address, 100 * ETHER)
            wallets[name] = LocalWallet(chain, key_for(name))
        if not snapshot:
            app.store.register_space(ADMIN, SPACE)
            app.store.create_world(ADMIN, "w", "demo", owner="alpha")
            data_bytes = make_state([wallets["alice"].address, wallets["bob"].address, None, None])
            record, _ = app.store.save(ALPHA, SaveRequest(world="w", size=len(data_bytes)), [data_bytes])
            assert app.rarity.wait_scored(record.id, timeout=60)
            snapshot = record.id
        yield Served(app, f"127.0.0.1:{port}", channel, wallets, snapshot)
    finally:
        channel.close()
        server.stop(grace=None).wait()
        app.close()
