"""The market's rules on the in-process EVM: claims, downloads after a sale, listings, sign-in nonces."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from multiverse.chain import Listing, Provenance
from multiverse.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from multiverse.market import ROLE_WALLET, VectorRef, parse_canonical
from multiverse.store.auth import Principal
from tests.chain.harness import ETHER, key_for
from tests.market.world import ALPHA, OUTLIER_FRAME, OUTLIER_PLAYER, personal_sign, siwe_message


def wallet(address: str) -> Principal:
    return Principal(address, ROLE_WALLET)


def ref(mkt, kind: str, index: int) -> VectorRef:
    return VectorRef("demo", mkt.saved.snapshot, kind, index)


def test_claim_by_the_discoverer_succeeds_and_by_anyone_else_fails(mkt):
    net = mkt.net
    with pytest.raises(PermissionDenied, match="only the discoverer"):
        mkt.market.claim(wallet(net.alice.address), ref(mkt, "player", OUTLIER_PLAYER))
    token = mkt.market.claim(wallet(net.bob.address), ref(mkt, "player", OUTLIER_PLAYER))
    assert net.chain.owner_of(token.token_id) == net.bob.address
    assert token.owner == net.bob.address and token.tier == "legendary" and token.kind == "player"
    info = net.chain.token_info(token.token_id)
    assert info.provenance.snapshot == mkt.saved.snapshot and info.provenance.index == OUTLIER_PLAYER
    assert info.provenance.rarity_ppm == round(token.percentile * 10_000)
    # the same matrix again, by the same discoverer: refused, nothing minted
    with pytest.raises(AlreadyExists, match=token.token_id):
        mkt.market.claim(wallet(net.bob.address), ref(mkt, "player", OUTLIER_PLAYER))
    # an API key (a game server) is not a wallet
    with pytest.raises(PermissionDenied, match="not a wallet"):
        mkt.market.claim(ALPHA, ref(mkt, "player", OUTLIER_PLAYER))


def test_second_claim_of_the_same_matrix_fails_even_when_the_db_missed_the_first(mkt):
    """The chain refuses a second mint of one matrix (token id = sha256 of its bytes), whatever the database says."""
    net = mkt.net
    vector = mkt.market.read(ref(mkt, "player", OUTLIER_PLAYER))
    net.mint(net.dave.address, "unused")  # an unrelated token first
    net.chain.mint(
        net.dave.address,
        vector.token_id,
        Provenance("demo", mkt.saved.snapshot, 1, 1),
    )
    with pytest.raises(AlreadyExists):
        mkt.market.claim(wallet(net.bob.address), ref(mkt, "player", OUTLIER_PLAYER))


def test_frames_are_claimed_by_the_world_owners_payout_address_and_only_rare_ones(mkt):
    net = mkt.net
    with pytest.raises(FailedPrecondition, match="no payout address"):
        mkt.market.claim(wallet(net.carol.address), ref(mkt, "frame", OUTLIER_FRAME))
    with pytest.raises(PermissionDenied):
        mkt.market.set_payout(wallet(net.carol.address), "alpha", net.carol.address)
    mkt.market.set_payout(ALPHA, "alpha", net.carol.address)
    common = min(range(24), key=lambda i: mkt.market.rarity_of("demo", mkt.saved.snapshot, "frame", i)[1])
    with pytest.raises(FailedPrecondition, match="only rare or rarer"):
        mkt.market.claim(wallet(net.carol.address), ref(mkt, "frame", common))
    token = mkt.market.claim(wallet(net.carol.address), ref(mkt, "frame", OUTLIER_FRAME))
    assert token.discoverer == net.carol.address and token.shape == (4, 3, 2)
    assert [t.token_id for t in mkt.market.list_tokens(owner=net.carol.address, tier="legendary")] == [
        token.token_id
    ]
    assert mkt.market.list_tokens(space="other") == []


def test_download_by_a_non_owner_fails_and_by_the_new_owner_after_a_sale_succeeds(mkt):
    net = mkt.net
    bob, dave = wallet(net.bob.address), wallet(net.dave.address)
    token = mkt.market.claim(bob, ref(mkt, "player", OUTLIER_PLAYER))
    _, data = mkt.market.download(bob, token.token_id)
    assert hashlib.sha256(data).hexdigest() == token.token_id
    dtype, shape, raw = parse_canonical(data)
    assert (dtype, shape, len(raw)) == ("F16", (8,), 16)
    with pytest.raises(PermissionDenied, match="only its owner"):
        mkt.market.download(dave, token.token_id)

    net.approve_exchange(net.bob)
    prepared = mkt.market.prepare_listing(bob, token.token_id, price=ETHER)
    assert prepared.typed_data["domain"]["chainId"] == net.chain.chain_id()
    signature = net.bob.sign(prepared.listing)
    stored = mkt.market.submit_listing(bob, prepared.listing, signature)
    assert [x.listing_hash for x in mkt.market.listings(token_id=token.token_id)] == [stored.listing_hash]
    net.buy(net.dave, prepared.listing, signature)

    mkt.indexer.sync()
    assert mkt.market.get_token(token.token_id).owner == net.dave.address
    assert mkt.market.listings(token_id=token.token_id) == []
    assert [x.status for x in mkt.market.listings(token_id=token.token_id, status="sold")] == ["sold"]
    assert [e.name for e in mkt.market.history(token.token_id)] == [
        "Transfer",
        "Provenance",
        "Transfer",
        "Sold",
    ]
    _, bought = mkt.market.download(dave, token.token_id)
    assert bought == data
    with pytest.raises(PermissionDenied):
        mkt.market.download(bob, token.token_id)


def test_submit_listing_checks_signature_ownership_and_approval(mkt):
    net = mkt.net
    bob = wallet(net.bob.address)
    token = mkt.market.claim(bob, ref(mkt, "player", OUTLIER_PLAYER))
    with pytest.raises(FailedPrecondition, match="setApprovalForAll"):
        mkt.market.prepare_listing(bob, token.token_id, price=ETHER)
    net.approve_exchange(net.bob)
    listing = mkt.market.prepare_listing(bob, token.token_id, price=ETHER).listing
    with pytest.raises(InvalidArgument, match="signature"):
        mkt.market.submit_listing(bob, listing, net.alice.sign(listing))  # signed by someone else
    with pytest.raises(PermissionDenied, match="belongs to"):
        mkt.market.prepare_listing(wallet(net.alice.address), token.token_id, price=ETHER)
    stolen = Listing(**{**listing.__dict__, "seller": net.alice.address})
    with pytest.raises(PermissionDenied):
        mkt.market.submit_listing(wallet(net.alice.address), stolen, net.alice.sign(stolen))
    with pytest.raises(InvalidArgument, match="price"):
        mkt.market.prepare_listing(bob, token.token_id, price=-1)


def test_a_sign_in_nonce_is_accepted_once(mkt):
    net, chain_id = mkt.net, mkt.net.chain.chain_id()
    nonce = mkt.signin.nonce()
    message = siwe_message(net.alice.address, nonce, chain_id)
    token, session = mkt.signin.sign_in(message, personal_sign(key_for("alice"), message))
    assert session.address == net.alice.address
    assert mkt.signin.authenticate(token) == Principal(net.alice.address, ROLE_WALLET, session.id)
    with pytest.raises(Unauthenticated, match="used already"):
        mkt.signin.sign_in(message, personal_sign(key_for("alice"), message))
    with pytest.raises(Unauthenticated, match="not issued here"):
        other = siwe_message(net.alice.address, "abcdef0123456789", chain_id)
        mkt.signin.sign_in(other, personal_sign(key_for("alice"), other))
    with pytest.raises(Unauthenticated):
        mkt.signin.authenticate(token[:-2] + "xx")


@pytest.mark.parametrize("signature", ["0x" + "00" * 65, "0x" + "11" * 64 + "1b"])
def test_a_signature_no_key_recovers_from_is_bad_input(mkt, signature):
    """65 bytes from which no public key recovers (eth_keys' BadSignature) once escaped as an internal error."""
    message = siwe_message(mkt.net.alice.address, mkt.signin.nonce(), mkt.net.chain.chain_id())
    with pytest.raises(InvalidArgument, match="signature"):
        mkt.signin.sign_in(message, signature)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"domain": "evil.test"}, "domain"),
        ({"uri": "https://evil.test/login"}, "URI"),
        ({"chain_id": 999}, "chain"),
        ({"expires_in": -timedelta(seconds=1)}, "refused"),
        (
            {"not_before": datetime.now(UTC) + timedelta(hours=1)},
            "refused",
        ),
        ({"signer": "bob"}, "refused"),
    ],
)
def test_sign_in_checks_domain_uri_chain_expiry_not_before_and_signer(mkt, change, match):
    net, chain_id = mkt.net, mkt.net.chain.chain_id()
    change = dict(change)
    signer = change.pop("signer", "alice")
    change.setdefault("chain_id", chain_id)
    message = siwe_message(net.alice.address, mkt.signin.nonce(), **change)
    with pytest.raises(Unauthenticated, match=match):
        mkt.signin.sign_in(message, personal_sign(key_for(signer), message))


def test_listings_get_the_smallest_free_salt_and_a_salt_serves_one_listing(mkt):
    """A listing's salt is its nonce on the exchange (one fill or cancel per seller and salt): the market hands out
    the smallest salt no stored listing and no fill or cancel of the seller has used, and refuses a second stored
    listing with a salt already taken."""
    net = mkt.net
    bob = wallet(net.bob.address)
    token = mkt.market.claim(bob, ref(mkt, "player", OUTLIER_PLAYER))
    net.approve_exchange(net.bob)
    first = mkt.market.prepare_listing(bob, token.token_id, price=ETHER).listing
    assert first.salt == 0
    mkt.market.submit_listing(bob, first, net.bob.sign(first))
    second = mkt.market.prepare_listing(bob, token.token_id, price=2 * ETHER).listing
    assert second.salt == 1
    twin = Listing(**{**second.__dict__, "salt": 0})
    with pytest.raises(FailedPrecondition, match="has salt 0 already"):
        mkt.market.submit_listing(bob, twin, net.bob.sign(twin))
    net.bob.transact("cancel", net.exchange.functions.cancel([second.as_tuple()]))
    with pytest.raises(FailedPrecondition, match="salt 1 was filled or cancelled"):
        mkt.market.submit_listing(bob, second, net.bob.sign(second))
    assert mkt.market.prepare_listing(bob, token.token_id, price=ETHER).listing.salt == 2
