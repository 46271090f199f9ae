"""Market fixtures: the chain fixtures of tests/chain (in-process EVM and anvil), a small store, a market."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from multiverse.market import Indexer, Market, MarketConfig, MarketDb, SignIn, SignInConfig
from tests.chain.conftest import anvil_chain, anvil_url, memory_chain  # noqa: F401  (fixtures)
from tests.chain.harness import Net
from tests.market.world import KnnRarity, Saved, make_store

SIGNIN = SignInConfig(domain="gallery.test", uri="https://gallery.test")


@dataclass
class Mkt:
    net: Net
    saved: Saved
    db: MarketDb
    market: Market
    signin: SignIn
    indexer: Indexer


def build(net: Net, tmp_path, *, confirmations: int = 0, min_tier: str = "rare") -> Mkt:
    wallets = [net.alice.address, net.bob.address, None, net.carol.address]
    saved = make_store(tmp_path, wallets)
    db = MarketDb(saved.store.meta, net.chain.contracts.token)
    config = MarketConfig(min_tier=min_tier, confirmations=confirmations, signin=SIGNIN)
    market = Market(saved.store.meta, saved.store.blobs, net.chain, db, KnnRarity(saved.store), config)
    signin = SignIn(db, net.chain.chain_id(), SIGNIN)
    indexer = Indexer(net.chain, db, confirmations=confirmations)
    return Mkt(net, saved, db, market, signin, indexer)


@pytest.fixture
def mkt(memory_chain, tmp_path):  # noqa: F811
    snapshot = memory_chain.snapshot()
    try:
        built = build(memory_chain, tmp_path)
        yield built
    finally:
        built.saved.store.meta.close()
        memory_chain.revert(snapshot)


@pytest.fixture(scope="package")
def served(tmp_path_factory):
    """The App with the market behind gRPC (tests/market/stack.py), shared by the service, client and CLI tests."""
    from tests.market.stack import serve

    with serve(tmp_path_factory.mktemp("market-svc")) as s:
        yield s


@pytest.fixture
def svc(served):
    return served.app, served.stub, served.channel, served.wallets, served.snapshot
