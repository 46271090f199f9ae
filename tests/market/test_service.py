"""The Market service over gRPC on the embedded App (in-process EVM deployed at start, real rarity engine):
sign-in nonces, claims, downloads after a sale, listings, and wallet sessions as a distinct principal kind."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest
from eth_account import Account

from multiverse.chain import Listing, listing_digest
from multiverse.records import ROLE_SERVER
from multiverse.store.auth import mint_key
from multiverse.v1 import market_pb2 as pb
from multiverse.v1 import store_pb2, store_pb2_grpc
from tests.chain.harness import ETHER, key_for
from tests.market.world import OUTLIER_PLAYER, personal_sign, siwe_message


def sign_in(stub, wallet_name: str) -> tuple[tuple[tuple[str, str]], str]:
    nonce = stub.SignInNonce(pb.SignInNonceRequest())
    address = Account.from_key(key_for(wallet_name)).address
    message = siwe_message(
        address, nonce.nonce, nonce.chain_id, domain=nonce.domain, uri=nonce.uri + "/login"
    )
    reply = stub.SignIn(
        pb.SignInRequest(message=message, signature=personal_sign(key_for(wallet_name), message))
    )
    assert reply.address == address
    return (("authorization", f"Bearer {reply.token}"),), message


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_a_nonce_is_accepted_once_and_the_session_is_a_wallet_principal(svc):
    _, stub, channel, _, _ = svc
    auth, message = sign_in(stub, "alice")
    sig = personal_sign(key_for("alice"), message)
    assert (
        code_of(lambda: stub.SignIn(pb.SignInRequest(message=message, signature=sig)))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    # a wallet session is not an API key: the store's write paths refuse it
    store = store_pb2_grpc.StoreStub(channel)
    assert (
        code_of(
            lambda: store.CreateWorld(store_pb2.CreateWorldRequest(name="mine", space="demo"), metadata=auth)
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert code_of(lambda: stub.ListTokens(pb.ListTokensRequest())) == grpc.StatusCode.UNAUTHENTICATED
    stub.ListTokens(pb.ListTokensRequest(), metadata=auth)


def test_claim_download_sale_download(svc):
    app, stub, _, wallets, snapshot = svc
    alice, _ = sign_in(stub, "alice")
    bob, _ = sign_in(stub, "bob")
    dave, _ = sign_in(stub, "dave")
    claim = pb.ClaimRequest(space="demo", snapshot=snapshot, kind="player", index=OUTLIER_PLAYER)
    assert code_of(lambda: stub.Claim(claim, metadata=alice)) == grpc.StatusCode.PERMISSION_DENIED
    _, server_key = mint_key(app.meta, "alpha", ROLE_SERVER)
    assert (
        code_of(lambda: stub.Claim(claim, metadata=(("authorization", f"Bearer {server_key}"),)))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    token = stub.Claim(claim, metadata=bob)
    assert (
        token.owner == wallets["bob"].address and token.discoverer == token.owner and token.kind == "player"
    )
    assert app.market.chain.owner_of(token.token_id) == wallets["bob"].address
    assert code_of(lambda: stub.Claim(claim, metadata=bob)) == grpc.StatusCode.ALREADY_EXISTS
    bad = pb.ClaimRequest(space="demo", snapshot=snapshot, kind="tile", index=0)
    assert code_of(lambda: stub.Claim(bad, metadata=bob)) == grpc.StatusCode.INVALID_ARGUMENT

    got = stub.DownloadVector(pb.DownloadVectorRequest(token_id=token.token_id), metadata=bob)
    assert hashlib.sha256(got.data).hexdigest() == token.token_id == got.sha256
    assert (
        code_of(lambda: stub.DownloadVector(pb.DownloadVectorRequest(token_id=token.token_id), metadata=dave))
        == grpc.StatusCode.PERMISSION_DENIED
    )

    chain = app.market.chain
    seller = wallets["bob"]
    seller.transact(
        "approve", chain.token_contract.functions.setApprovalForAll(chain.contracts.exchange, True)
    )
    prepared = stub.PrepareListing(
        pb.PrepareListingRequest(token_id=token.token_id, price=str(ETHER)), metadata=bob
    )
    typed = json.loads(prepared.typed_data_json)
    assert (
        typed["domain"]["verifyingContract"] == chain.contracts.exchange
        and typed["message"]["price"] == ETHER
    )
    listing = Listing(
        **{
            k: (int(v) if k in ("price", "fee", "counter", "salt", "expiry") else v)
            for k, v in {
                "seller": prepared.listing.seller,
                "token": prepared.listing.token,
                "token_id": int(prepared.listing.token_id, 16),
                "price": prepared.listing.price,
                "fee_recipient": prepared.listing.fee_recipient,
                "fee": prepared.listing.fee,
                "counter": prepared.listing.counter,
                "salt": prepared.listing.salt,
                "expiry": prepared.listing.expiry,
            }.items()
        }
    )
    signature = seller.sign(listing)
    assert "0x" + listing_digest(listing, chain.chain_id(), chain.contracts.exchange).hex() == prepared.digest
    forged = pb.SubmitListingRequest(listing=prepared.listing, signature=wallets["alice"].sign(listing))
    assert code_of(lambda: stub.SubmitListing(forged, metadata=bob)) == grpc.StatusCode.INVALID_ARGUMENT
    stored = stub.SubmitListing(
        pb.SubmitListingRequest(listing=prepared.listing, signature=signature), metadata=bob
    )
    assert stored.status == "active"
    assert [
        x.listing_hash
        for x in stub.Listings(pb.ListingsRequest(token_id=token.token_id), metadata=dave).listings
    ] == [stored.listing_hash]

    wallets["dave"].transact(
        "buy", chain.exchange_contract.functions.buy(listing.as_tuple(), signature, ETHER), value=ETHER
    )
    app.market.indexer.sync()
    assert (
        stub.GetToken(pb.GetTokenRequest(token_id=token.token_id), metadata=dave).owner
        == wallets["dave"].address
    )
    assert [e.name for e in stub.History(pb.HistoryRequest(token_id=token.token_id), metadata=dave).events][
        -2:
    ] == ["Transfer", "Sold"]
    assert stub.Listings(pb.ListingsRequest(token_id=token.token_id), metadata=dave).listings == []
    bought = stub.DownloadVector(pb.DownloadVectorRequest(token_id=token.token_id), metadata=dave)
    assert bought.data == got.data
    assert (
        code_of(lambda: stub.DownloadVector(pb.DownloadVectorRequest(token_id=token.token_id), metadata=bob))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    mine = stub.ListTokens(pb.ListTokensRequest(owner=wallets["dave"].address), metadata=dave).tokens
    assert token.token_id in [t.token_id for t in mine]  # (other tests of the shared App may give dave more)
