"""Embedded-mode durability: the in-process chain is kept under the data directory, so closing and reopening the
App keeps every token, owner and listing (and the same contracts); and an indexer refuses, without deleting
anything, to follow a chain whose history is not the one it indexed."""

from __future__ import annotations

import json

import grpc
import pytest
from eth_account import Account

from multiverse.chain import ChainConfig
from multiverse.chain.memory import InProcessChain
from multiverse.chain.wallet import LocalWallet
from multiverse.errors import FailedPrecondition
from multiverse.market import ROLE_WALLET, Indexer, VectorRef
from multiverse.store.auth import Principal
from multiverse.v1 import market_pb2 as pb
from tests.chain.harness import ETHER, key_for
from tests.market.stack import serve
from tests.market.test_service import sign_in
from tests.market.world import ADMIN, OUTLIER_PLAYER


def test_tokens_owners_and_listings_survive_a_restart(tmp_path):
    data = tmp_path / "data"
    with serve(data) as s:
        chain = s.app.market.chain
        contracts, bob, dave = chain.contracts, s.wallets["bob"], s.wallets["dave"]
        auth, _ = sign_in(s.stub, "bob")
        sold = s.stub.Claim(
            pb.ClaimRequest(snapshot=s.snapshot, kind="player", index=OUTLIER_PLAYER), metadata=auth
        )
        bob.transact("approve", chain.token_contract.functions.setApprovalForAll(contracts.exchange, True))
        market = s.app.market.market
        who = Principal(bob.address, ROLE_WALLET)
        listing = market.prepare_listing(who, sold.token_id, ETHER).listing
        signature = bob.sign(listing)
        dave.transact(
            "buy", chain.exchange_contract.functions.buy(listing.as_tuple(), signature, ETHER), value=ETHER
        )
        # a second listing stays open across the restart
        alice_auth, _ = sign_in(s.stub, "alice")
        other = s.stub.Claim(
            pb.ClaimRequest(snapshot=s.snapshot, kind="player", index=0), metadata=alice_auth
        )
        alice = s.wallets["alice"]
        alice.transact("approve", chain.token_contract.functions.setApprovalForAll(contracts.exchange, True))
        open_listing = market.prepare_listing(
            Principal(alice.address, ROLE_WALLET), other.token_id, 2 * ETHER
        ).listing
        stored = market.submit_listing(
            Principal(alice.address, ROLE_WALLET), open_listing, alice.sign(open_listing)
        )
        s.app.market.indexer.sync()
        head, snapshot = chain.block_number(), s.snapshot
        before = {t.token_id: t.owner for t in market.list_tokens()}
        assert before == {sold.token_id: dave.address, other.token_id: alice.address}

    assert (data / "chain" / "chain.sqlite").stat().st_size > 0
    assert not (data / "chain" / "minter.key").exists()  # a configured minter key is never written down
    assert json.loads((data / "chain" / "contracts.json").read_text())["token"] == contracts.token

    with serve(data, snapshot) as s:
        chain, market = s.app.market.chain, s.app.market.market
        assert chain.contracts == contracts  # attached, not redeployed
        assert chain.block_number() >= head and chain.owner_of(sold.token_id) == dave.address
        s.app.market.indexer.sync()
        assert {t.token_id: t.owner for t in market.list_tokens()} == before
        assert [x.listing_hash for x in market.listings()] == [stored.listing_hash]
        # the listing signed before the restart still fills, once
        carol_key = key_for("carol")
        chain.fund(Account.from_key(carol_key).address, 10 * ETHER)
        carol = LocalWallet(chain, carol_key)
        carol.transact(
            "buy",
            chain.exchange_contract.functions.buy(
                open_listing.as_tuple(), bytes.fromhex(stored.signature[2:]), 2 * ETHER
            ),
            value=2 * ETHER,
        )
        # and new mints work (the minter keeps its role); the same matrix is still refused
        auth, _ = sign_in(s.stub, "bob")
        again = pb.ClaimRequest(snapshot=s.snapshot, kind="player", index=OUTLIER_PLAYER)
        with pytest.raises(grpc.RpcError) as refused:
            s.stub.Claim(again, metadata=auth)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        market.set_payout(ADMIN, "alpha", s.wallets["bob"].address)
        fresh = s.stub.Claim(pb.ClaimRequest(snapshot=s.snapshot, kind="frame", index=0), metadata=auth)
        s.app.market.indexer.sync()
        assert market.get_token(fresh.token_id).owner == s.wallets["bob"].address
        assert market.get_token(other.token_id).owner == carol.address
        assert [x.listing_hash for x in market.listings(status="sold")] == [stored.listing_hash]


def test_an_indexer_refuses_a_chain_with_another_history(mkt):
    m = mkt
    bob = Principal(m.net.bob.address, ROLE_WALLET)
    token = m.market.claim(bob, VectorRef("demo", m.saved.snapshot, "player", OUTLIER_PLAYER))
    m.indexer.sync()
    # a fresh in-process EVM: same chain id, same minter, so the same contract addresses, but another genesis
    other = InProcessChain(ChainConfig(minter_key=key_for("minter")))
    assert other.contracts.token == m.net.chain.contracts.token
    stranger = Indexer(other, m.db)
    for call in (stranger.check, stranger.sync):
        with pytest.raises(
            FailedPrecondition, match="not the chain this market indexed.*Nothing was deleted"
        ):
            call()
    assert m.market.get_token(token.token_id).owner == m.net.bob.address
    assert [e.name for e in m.market.history(token.token_id)] == ["Transfer", "Provenance"]
