"""The wallet routes over real HTTP (a live gateway, tests/http/stack.py): EIP-4361 sign-in signed with eth_account,
claim, EIP-712 listing signed from the API's typed data, a purchase sent to the exchange by a second wallet with
the ABI the API hands out, the new owner's download (sha256 == token id) and the old owner's refusal."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from eth_account import Account

from tests.chain.harness import key_for
from tests.http.stack import OUTLIER_PLAYER, serve_gallery
from tests.market.world import personal_sign, siwe_message

PRICE = 25 * 10**16  # 0.25 ether


@pytest.fixture(scope="module")
def g(tmp_path_factory):
    with serve_gallery(tmp_path_factory.mktemp("wallet")) as gallery:
        yield gallery


def sign_in(g, name: str) -> dict[str, str]:
    """Sign in as ``name``'s wallet the way a browser does: nonce, EIP-4361 message, personal_sign."""
    address = Account.from_key(key_for(name)).address
    nonce = httpx.post(f"{g.url}/api/signin/nonce").json()
    assert nonce["version"] == "1" and nonce["statement"]
    message = siwe_message(address, nonce["nonce"], nonce["chain_id"], domain=nonce["domain"], uri=nonce["uri"])
    reply = httpx.post(f"{g.url}/api/signin", json={"message": message, "signature": personal_sign(key_for(name), message)})
    assert reply.status_code == 200, reply.text
    assert reply.json()["address"] == address and reply.json()["token"].startswith("mvw_")
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def error_of(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    return reply.json()["error"]


def as_tuple(x: dict) -> tuple:
    """The exchange's Listing struct from the listing JSON alone, as a browser builds it."""
    return (x["seller"], x["token"], int(x["token_id"], 16), int(x["price"]), x["fee_recipient"], int(x["fee"]),
            int(x["counter"]), int(x["salt"]), int(x["expiry"]), int(x["token_nonce"]))


def contracts(g):
    abi = httpx.get(f"{g.url}/api/wallet/abi").json()
    w3, c = g.app.market.chain.web3, g.app.market.chain.contracts
    return w3.eth.contract(address=c.token, abi=abi["token_abi"]), w3.eth.contract(address=c.exchange, abi=abi["exchange_abi"])


def list_token(g, name: str, auth: dict, token_id: str) -> dict:
    """Approve the exchange (a transaction from the wallet), prepare, sign the typed data, submit."""
    token, exchange = contracts(g)
    wallet = g.wallets[name]
    if not token.functions.isApprovedForAll(wallet.address, exchange.address).call():
        wallet.transact("approve", token.functions.setApprovalForAll(exchange.address, True))
    prepared = httpx.post(f"{g.url}/api/listings/prepare", headers=auth,
                          json={"token_id": token_id, "price_wei": str(PRICE)})
    assert prepared.status_code == 200, prepared.text
    p = prepared.json()
    assert p["listing"]["price"] == str(PRICE) and p["listing"]["status"] == "unsigned"
    assert isinstance(p["typed_data"]["message"]["tokenId"], str)  # a uint256 as decimal text, exact in JS
    signature = Account.sign_typed_data(key_for(name), full_message=p["typed_data"]).signature
    submitted = httpx.post(f"{g.url}/api/listings", headers=auth,
                           json={"listing": p["listing"], "signature": "0x" + bytes(signature).hex()})
    assert submitted.status_code == 200, submitted.text
    listing = submitted.json()
    assert listing["status"] == "active" and listing["digest"] == p["digest"] == listing["listing_hash"]
    return listing


def test_sign_in_claim_list_buy_then_only_the_new_owner_downloads(g):
    bob, dave = sign_in(g, "bob"), sign_in(g, "dave")
    snapshot = g.snapshots[0]
    me = httpx.get(f"{g.url}/api/me", headers=bob).json()
    mine = {(c["snapshot"], c["kind"], c["index"]) for c in me["claimable"]}
    assert (snapshot, "player", OUTLIER_PLAYER) in mine
    assert me["address"] == g.wallets["bob"].address and me["tokens"] == []

    claimed = httpx.post(f"{g.url}/api/claims", headers=bob,
                         json={"snapshot": snapshot, "kind": "player", "index": OUTLIER_PLAYER})
    assert claimed.status_code == 200, claimed.text
    token = claimed.json()
    token_id = token["token_id"]
    assert token["owner"] == g.wallets["bob"].address and token["picture"].endswith(f"/player/{OUTLIER_PLAYER}.png")
    again = error_of(httpx.post(f"{g.url}/api/claims", headers=bob,
                                json={"snapshot": snapshot, "kind": "player", "index": OUTLIER_PLAYER}), 409)
    assert token_id in again["message"]
    me = httpx.get(f"{g.url}/api/me", headers=bob).json()
    assert [t["token_id"] for t in me["tokens"]] == [token_id]
    assert (snapshot, "player", OUTLIER_PLAYER) not in {(c["snapshot"], c["kind"], c["index"]) for c in me["claimable"]}

    listing = list_token(g, "bob", bob, token_id)
    assert [x["listing_hash"] for x in httpx.get(f"{g.url}/api/me", headers=bob).json()["listings"]] == [listing["listing_hash"]]

    _, exchange = contracts(g)
    g.wallets["dave"].transact("buy", exchange.functions.buy(as_tuple(listing), bytes.fromhex(listing["signature"][2:]),
                                                             int(listing["price"])), value=int(listing["price"]))
    g.app.market.indexer.sync()
    assert [t["token_id"] for t in httpx.get(f"{g.url}/api/me", headers=dave).json()["tokens"]] == [token_id]
    assert httpx.get(f"{g.url}/api/me", headers=bob).json()["listings"] == []

    got = httpx.get(f"{g.url}/api/tokens/{token_id}/matrix", headers=dave)
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    assert hashlib.sha256(got.content).hexdigest() == token_id == got.headers["X-Token-Id"]
    assert got.headers["X-Dtype"] == token["dtype"] and got.headers["X-Shape"] == ",".join(map(str, token["shape"]))
    refused = error_of(httpx.get(f"{g.url}/api/tokens/{token_id}/matrix", headers=bob), 403)
    assert g.wallets["dave"].address in refused["message"]
    error_of(httpx.get(f"{g.url}/api/tokens/{token_id}/matrix"), 401)


def test_a_listing_cancelled_by_the_wallet_leaves_my_listings(g):
    alice = sign_in(g, "alice")
    snapshot = g.snapshots[1]
    token = httpx.post(f"{g.url}/api/claims", headers=alice, json={"snapshot": snapshot, "kind": "player", "index": 0})
    assert token.status_code == 200, token.text
    listing = list_token(g, "alice", alice, token.json()["token_id"])
    _, exchange = contracts(g)
    g.wallets["alice"].transact("cancel", exchange.functions.cancel([as_tuple(listing)]))
    g.app.market.indexer.sync()
    assert httpx.get(f"{g.url}/api/me", headers=alice).json()["listings"] == []
    assert exchange.functions.isUsed(listing["seller"], int(listing["salt"])).call()


def test_my_discoveries_are_mine_alone_and_frames_follow_the_payout(g):
    alice, dave = sign_in(g, "alice"), sign_in(g, "dave")
    mine = httpx.get(f"{g.url}/api/me", headers=alice).json()["claimable"]
    assert mine and all(c["kind"] == "player" and c["index"] == 0 and c["token_id"] is None for c in mine)
    percentiles = [c["percentile"] for c in mine]
    assert percentiles == sorted(percentiles, reverse=True)  # rarest first
    # the private world's player is alice's own: shown to her, marked private so pages keep its picture back
    assert {c["world"]: c["visibility"] for c in mine}.get(g.private) == "private"
    assert httpx.get(f"{g.url}/api/me", headers=dave).json()["claimable"] == []
    refused = error_of(httpx.post(f"{g.url}/api/claims", headers=dave,
                                  json={"snapshot": g.snapshots[0], "kind": "player", "index": 0}), 403)
    assert "discoverer" in refused["message"]

    g.app.market.db.set_payout("alpha", g.wallets["dave"].address)  # the worlds' owner pays out to dave
    try:
        frames = httpx.get(f"{g.url}/api/me", params={"limit": 5}, headers=dave).json()["claimable"]
        assert 0 < len(frames) <= 5 and {c["kind"] for c in frames} == {"frame"}
        assert frames[0]["url"] == f"/v/{frames[0]['snapshot']}/frame/{frames[0]['index']}"
    finally:
        g.app.market.db.set_payout("alpha", "0x" + "00" * 19 + "01")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/claims", {"snapshot": "abc", "kind": "frame", "index": 0}, "snapshot"),
    ("/api/claims", {"snapshot": "0" * 64, "kind": "tree", "index": 0}, "kind"),
    ("/api/claims", {"snapshot": "0" * 64, "kind": "frame", "index": -1}, "index"),
    ("/api/claims", {"snapshot": "0" * 64, "kind": "frame", "index": 0, "extra": 1}, "extra"),
    ("/api/listings/prepare", {"token_id": "ab" * 32, "price_wei": "lots"}, "price_wei"),
    ("/api/listings/prepare", {"token_id": "ab" * 32, "price_wei": "1" * 79}, "price_wei"),
    ("/api/listings/prepare", {"token_id": "ab" * 32, "price_wei": 10}, "price_wei"),
    ("/api/listings/prepare", {"token_id": "xyz", "price_wei": "10"}, "token_id"),
    ("/api/listings", {"listing": {"seller": "0x" + "11" * 20}, "signature": "0x" + "22" * 65}, "listing.token"),
    ("/api/listings/prepare", {"token_id": "ab" * 32, "price_wei": str(2**256)}, "price_wei"),
    ("/api/signin", {"message": "hello", "signature": "0x12"}, "signature"),
])
def test_a_bad_body_is_400_naming_the_field_and_the_fix(g, path, body, field):
    error = error_of(httpx.post(f"{g.url}{path}", json=body, headers=sign_in(g, "dave")), 400)
    assert error["field"] == field and error["fix"] and error["code"] == "INVALID_ARGUMENT"


def test_a_bad_listing_amount_names_it_and_a_bad_token_id_too(g):
    dave = sign_in(g, "dave")
    listing = {"seller": "0x" + "11" * 20, "token": "0x" + "11" * 20, "token_id": "ab" * 32, "price": "-1",
               "fee_recipient": "0x" + "00" * 20, "fee": "0", "counter": "0", "salt": "0", "expiry": "1",
               "token_nonce": "0"}
    error = error_of(httpx.post(f"{g.url}/api/listings", headers=dave,
                                json={"listing": listing, "signature": "0x" + "22" * 65}), 400)
    assert error["field"] == "listing.price" and "decimal" in error["fix"]
    assert error_of(httpx.get(f"{g.url}/api/tokens/xyz/matrix", headers=dave), 400)["field"] == "token_id"
    assert error_of(httpx.get(f"{g.url}/api/me", params={"limit": 1000}, headers=dave), 400)["field"] == "limit"


@pytest.mark.parametrize("signature", ["0x" + "00" * 65, "0x" + "ff" * 65, "0x" + "11" * 64 + "1b"])
def test_a_signature_no_key_recovers_from_is_400_not_500(g, signature):
    address = Account.from_key(key_for("bob")).address
    nonce = httpx.post(f"{g.url}/api/signin/nonce").json()
    message = siwe_message(address, nonce["nonce"], nonce["chain_id"], domain=nonce["domain"], uri=nonce["uri"])
    reply = httpx.post(f"{g.url}/api/signin", json={"message": message, "signature": signature})
    assert reply.status_code in (400, 401), reply.text
    assert reply.status_code == 401 or reply.json()["error"]["field"] == "signature"


def test_unsigned_calls_are_401_and_oversized_bodies_413(g):
    for method, path in (("GET", "/api/me"), ("POST", "/api/claims"), ("POST", "/api/listings/prepare")):
        reply = httpx.request(method, f"{g.url}{path}", json={})
        assert reply.status_code == 401, (path, reply.text)
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    big = httpx.post(f"{g.url}/api/signin", json={"message": "x" * 20_000, "signature": "0x"})
    assert big.status_code == 413 and "bytes" in big.json()["error"]["message"]

    def chunks():
        for _ in range(40):
            yield b" " * 1024

    streamed = httpx.post(f"{g.url}/api/signin", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_the_abi_fragments_hold_what_a_browser_calls(g):
    abi = httpx.get(f"{g.url}/api/wallet/abi").json()
    names = {kind: {x.get("name") for x in abi[kind] if x["type"] == "function"} for kind in abi}
    assert {"setApprovalForAll", "isApprovedForAll", "ownerOf"} <= names["token_abi"]
    assert {"buy", "cancel", "incrementCounter", "counterOf"} <= names["exchange_abi"]
    buy = next(x for x in abi["exchange_abi"] if x.get("name") == "buy")
    assert [c["name"] for c in buy["inputs"][0]["components"]][-1] == "tokenNonce"
    spec = httpx.get(f"{g.url}/api/openapi.json").json()
    prepare = spec["components"]["schemas"]["PrepareBody"]["properties"]["price_wei"]
    assert prepare["maxLength"] == 78 and prepare["pattern"] == "^[0-9]{1,78}$"


def test_a_body_that_is_not_json_names_the_body(http):
    r = http.post("/api/signin", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
