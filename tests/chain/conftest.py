"""Chain fixtures: one in-process EVM and one anvil node per session, contracts deployed, wallets funded.

``net`` runs a test on both; each test runs inside an EVM snapshot that is reverted afterwards, so tests see the
same starting state and leave nothing behind."""

from __future__ import annotations

import pytest

from tests.chain.harness import Net, anvil_binary, memory_net, rpc_net, start_anvil
from tests.support.need import missing


@pytest.fixture(scope="session")
def memory_chain() -> Net:
    return memory_net()


@pytest.fixture(scope="session")
def anvil_url(tmp_path_factory):
    binary = anvil_binary()
    if binary is None:
        missing("anvil (npm @foundry-rs/anvil)", "run: npm ci --prefix contracts")
    with start_anvil(binary, tmp_path_factory.mktemp("anvil")) as url:
        yield url


@pytest.fixture(scope="session")
def anvil_chain(anvil_url) -> Net:
    return rpc_net(anvil_url)


@pytest.fixture(params=["memory", "anvil"])
def net(request) -> Net:
    chain: Net = request.getfixturevalue(f"{request.param}_chain")
    snapshot = chain.snapshot()
    try:
        yield chain
    finally:
        chain.revert(snapshot)
