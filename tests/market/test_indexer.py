"""The indexer: replays change nothing, confirmations hold events back, reorgs roll the database back to the fork
point and forward along the new branch (on anvil with ``anvil_reorg``, and on the in-process EVM by reverting)."""

from __future__ import annotations

import pytest

from multiverse.market import ROLE_WALLET, Indexer, VectorRef
from multiverse.store.auth import Principal
from tests.market.conftest import build
from tests.market.world import OUTLIER_PLAYER


def claim(m):
    bob = Principal(m.net.bob.address, ROLE_WALLET)
    return m.market.claim(bob, VectorRef("demo", m.saved.snapshot, "player", OUTLIER_PLAYER))


def transfer(m, token_id: str, frm, to) -> None:
    frm.transact("transfer", m.net.token.functions.transferFrom(frm.address, to.address, int(token_id, 16)))


@pytest.fixture
def anvil_mkt(anvil_chain, tmp_path):
    snapshot = anvil_chain.snapshot()
    built = build(anvil_chain, tmp_path)
    try:
        yield built
    finally:
        built.saved.store.meta.close()
        anvil_chain.revert(snapshot)


def test_a_reorg_on_anvil_rolls_the_database_back_and_forward(anvil_mkt):
    m = anvil_mkt
    token = claim(m)
    transfer(m, token.token_id, m.net.bob, m.net.dave)
    first = m.indexer.sync()
    assert first.indexed > 0 and m.market.get_token(token.token_id).owner == m.net.dave.address
    head = m.net.chain.block_number()

    # replace the block holding the transfer with an empty one
    response = m.net.w3.provider.make_request("anvil_reorg", [1, []])
    assert "error" not in response, response
    assert m.net.chain.block_number() == head
    result = m.indexer.sync()
    assert result.rolled_back == 1 and result.indexed == 1 and result.head == head
    assert m.market.get_token(token.token_id).owner == m.net.bob.address
    assert [e.name for e in m.market.history(token.token_id)] == ["Transfer", "Provenance"]

    # and forward along the new branch
    transfer(m, token.token_id, m.net.bob, m.net.carol)
    again = m.indexer.sync()
    assert again.rolled_back == 0 and again.indexed == 1
    assert m.market.get_token(token.token_id).owner == m.net.carol.address
    assert [e.args["to"] for e in m.market.history(token.token_id) if e.name == "Transfer"][
        -1
    ] == m.net.carol.address


def test_a_reorg_on_the_in_process_evm_and_replays(mkt):
    m = mkt
    token = claim(m)
    fork = m.net.snapshot()
    transfer(m, token.token_id, m.net.bob, m.net.dave)
    m.net.fund(m.net.alice.address, 1)  # one more block on the old branch
    m.indexer.sync()
    assert m.market.get_token(token.token_id).owner == m.net.dave.address
    events = m.market.history(token.token_id)

    # replaying the same blocks (a second indexer from scratch on the same database) changes nothing
    Indexer(m.net.chain, m.db).sync()
    assert m.market.history(token.token_id) == events

    m.net.revert(fork)  # the old branch is gone; a new one grows past it
    transfer(m, token.token_id, m.net.bob, m.net.carol)
    for _ in range(2):
        m.net.fund(m.net.alice.address, 1)
    result = m.indexer.sync()
    assert result.rolled_back == 2 and result.indexed == 3
    assert m.market.get_token(token.token_id).owner == m.net.carol.address
    assert [e.args["to"] for e in m.market.history(token.token_id) if e.name == "Transfer"] == [
        m.net.bob.address,
        m.net.carol.address,
    ]


def test_confirmations_hold_events_back(mkt, tmp_path):
    m = build(mkt.net, tmp_path / "c", confirmations=2)
    token = claim(m)
    m.indexer.sync()
    assert m.market.history(token.token_id) == []
    for _ in range(2):
        m.net.fund(m.net.alice.address, 1)
    m.indexer.sync()
    assert [e.name for e in m.market.history(token.token_id)] == ["Transfer", "Provenance"]
    m.saved.store.meta.close()
