"""The market from the Python client and the CLI, over gRPC against the embedded App (tests/market/stack.py):
sign-in with a local key, claim, tokens, listing (approval on the chain through the App's JSON-RPC), purchase,
download by the new owner only; and the same journey through `multiverse` commands."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest
from eth_account import Account

from multiverse import errors
from multiverse.cli import main
from multiverse.client import Client
from multiverse.records import ROLE_ADMIN
from multiverse.store.auth import mint_key
from tests.chain.harness import ETHER, key_for
from tests.market.world import OUTLIER_FRAME


def test_client_claims_lists_sells_and_downloads(served):
    alice, dave = key_for("alice"), key_for("dave")
    with Client(served.address) as anyone:  # no credentials needed
        info = anyone.chain_info()
    assert info.exchange == served.app.market.chain.contracts.exchange
    assert info.rpc_url.startswith("http://127.0.0.1:")

    with Client(served.address) as seller, Client(served.address) as buyer:
        with pytest.raises(errors.Unauthenticated):
            seller.claim(served.snapshot, "player", 0)
        assert seller.sign_in_with_key(alice) == Account.from_key(alice).address
        with pytest.raises(errors.PermissionDenied):  # player 1 is bob's discovery
            seller.claim(served.snapshot, "player", 1)
        token = seller.claim(served.snapshot, "player", 0)  # space left empty: the snapshot's
        assert token.owner == seller.wallet_address and token.space == "demo"
        assert [t.token_id for t in seller.list_tokens(owner=seller.wallet_address)] == [token.token_id]
        _, data = seller.download_vector(token.token_id)
        assert hashlib.sha256(data).hexdigest() == token.token_id

        # approves the exchange on the chain first, then prepares, checks, signs and submits
        listed = seller.list_token(token.token_id, ETHER // 2, alice)
        assert listed.status == "active" and listed.price == str(ETHER // 2)
        assert served.app.market.chain.is_approved_for_all(seller.wallet_address, info.exchange)

        buyer.sign_in_with_key(dave)
        with pytest.raises(errors.PermissionDenied):
            buyer.download_vector(token.token_id)
        with pytest.raises(errors.FailedPrecondition, match="above the maximum"):
            buyer.buy(token.token_id, dave, max_price=ETHER // 4)
        bought = buyer.buy(token.token_id, dave)
        assert bought.listing_hash == listed.listing_hash and bought.price == ETHER // 2
        served.app.market.indexer.sync()
        assert buyer.get_token(token.token_id).owner == buyer.wallet_address
        assert [e.name for e in buyer.history(token.token_id)][-2:] == ["Transfer", "Sold"]
        assert buyer.download_vector(token.token_id)[1] == data
        with pytest.raises(errors.PermissionDenied):
            seller.download_vector(token.token_id)
        with pytest.raises(errors.NotFound):  # the listing was filled: nothing active is left
            buyer.buy(token.token_id, dave)


def test_cli_wallet_claim_list_buy_download(served, tmp_path, capsys):
    _, admin = mint_key(served.app.meta, "cli-admin", ROLE_ADMIN)
    base = ["--grpc", served.address, "--data", str(tmp_path)]

    def run(*args: str) -> str:
        capsys.readouterr()
        assert main([*base, *args]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    seller_key, buyer_key = tmp_path / "seller.key", tmp_path / "buyer.key"
    seller = run("wallet", "new", str(seller_key)).strip()
    buyer = run("wallet", "new", str(buyer_key)).strip()
    assert stat.S_IMODE(seller_key.stat().st_mode) == 0o600
    assert seller_key.read_text().strip() not in run("wallet", "address", "--wallet-key", str(seller_key))
    assert main([*base, "wallet", "new", str(seller_key)]) == 1  # never overwritten
    for key in (seller_key, buyer_key):
        assert "10 ether" in run("wallet", "fund", "--wallet-key", str(key), "--amount", "10ether")

    # frames are claimed by the payout address of the world's owner
    assert main(["--key", admin, *base, "payout", seller, "--principal", "alpha"]) == 0
    claim = ["claim", served.snapshot, "--kind", "frame", "--index", str(OUTLIER_FRAME)]
    assert main([*base, *claim, "--wallet-key", str(buyer_key)]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    token = json.loads(run(*claim, "--wallet-key", str(seller_key)))
    token_id = token["token_id"]
    assert token["owner"] == seller
    assert token_id in run("tokens", "--owner", "me", "--wallet-key", str(seller_key))

    listed = json.loads(run("list", token_id, "--price", "0.25ether", "--wallet-key", str(seller_key)))
    assert listed["price"] == str(ETHER // 4)
    assert listed["listing_hash"] in run("listings", "--token", token_id, "--wallet-key", str(buyer_key))
    assert main([*base, "buy", token_id, "--max-price", "1000", "--wallet-key", str(buyer_key)]) == 1
    assert "above the maximum" in capsys.readouterr().err
    bought = json.loads(run("buy", token_id, "--wallet-key", str(buyer_key)))
    assert bought["listing_hash"] == listed["listing_hash"] and bought["gas_used"] > 21_000
    served.app.market.indexer.sync()
    assert json.loads(run("token", token_id, "--wallet-key", str(buyer_key)))["owner"] == buyer

    out = tmp_path / "vector.bin"
    assert main([*base, "download", token_id, str(out), "--wallet-key", str(seller_key)]) == 1
    assert not out.exists()
    run("download", token_id, str(out), "--wallet-key", str(buyer_key))
    assert hashlib.sha256(out.read_bytes()).hexdigest() == token_id
    assert "Sold" in run("history", token_id, "--wallet-key", str(buyer_key))
    assert main([*base, "list", token_id, "--price", "lots", "--wallet-key", str(buyer_key)]) == 1
    assert "--price" in capsys.readouterr().err
