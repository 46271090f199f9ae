"""Exchange on the in-process EVM and on anvil: fills, payments, cancels, counters, signatures, limits."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from multiverse.chain import Listing, listing_digest, sign_listing, typed_data
from multiverse.errors import FailedPrecondition
from tests.chain.harness import ETHER, ROYALTY_BPS, ZERO, key_for

PRICE = 2 * ETHER
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def gas_cost(net, receipt) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


@pytest.fixture
def listed(net):
    """bob holds a token alice discovered; bob approved the exchange. Returns (token id, listing, signature)."""
    token_id = net.mint(net.alice, "listed")
    net.alice.transact("give", net.token.functions.transferFrom(net.alice.address, net.bob.address, token_id))
    net.approve_exchange(net.bob)
    listing = net.listing(net.bob, token_id, PRICE, fee_recipient=net.fees.address, fee=PRICE // 100, salt=1)
    return token_id, listing, net.bob.sign(listing)


def test_digest_matches_contract_and_eip712(net):
    listing = net.listing(net.bob, 123, PRICE, salt=9)
    chain_id, exchange = net.chain.chain_id(), net.exchange.address
    digest = listing_digest(listing, chain_id, exchange)
    assert net.exchange.functions.hashListing(listing.as_tuple()).call() == digest
    signable = encode_typed_data(full_message=typed_data(listing, chain_id, exchange))
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == digest


def test_fill_pays_seller_royalty_and_fee_and_moves_the_token(net, listed):
    token_id, listing, signature = listed
    people = {n: getattr(net, n).address for n in ("alice", "bob", "carol", "fees")}
    before = {n: net.balance(a) for n, a in people.items()}
    start = net.chain.block_number()

    receipt = net.buy(net.carol, listing, signature)

    royalty, fee = PRICE * ROYALTY_BPS // 10_000, PRICE // 100
    delta = {n: net.balance(a) - before[n] for n, a in people.items()}
    assert delta == {
        "alice": royalty,
        "bob": PRICE - royalty - fee,
        "carol": -PRICE - gas_cost(net, receipt),
        "fees": fee,
    }
    assert net.token.functions.ownerOf(token_id).call() == net.carol.address
    assert net.balance(net.exchange.address) == 0
    digest = "0x" + listing_digest(listing, net.chain.chain_id(), net.exchange.address).hex()
    assert net.chain.salt_used(listing.seller, listing.salt)
    sold = [e for e in net.chain.get_logs(start + 1) if e.name == "Sold"]
    assert len(sold) == 1 and sold[0].args == {
        "listingHash": digest,
        "token": net.token.address,
        "tokenId": f"{token_id:064x}",
        "buyer": net.carol.address,
        "price": PRICE,
    }


def test_a_listing_fills_once(net, listed):
    _, listing, signature = listed
    net.buy(net.carol, listing, signature)
    with pytest.raises(FailedPrecondition, match="ListingUsed"):
        net.buy(net.dave, listing, signature)


def test_cancel_kills_one_listing_and_only_the_seller_cancels(net, listed):
    token_id, listing, signature = listed
    other = net.listing(net.bob, token_id, PRICE, salt=2)
    with pytest.raises(FailedPrecondition, match="NotSeller"):
        net.carol.transact("cancel", net.exchange.functions.cancel([listing.as_tuple()]))
    net.bob.transact("cancel", net.exchange.functions.cancel([listing.as_tuple()]))
    with pytest.raises(FailedPrecondition, match="ListingUsed"):
        net.buy(net.carol, listing, signature)
    net.buy(net.carol, other, net.bob.sign(other))  # the seller's other listing still fills


@pytest.mark.parametrize("salt", [3, 128, 2**200 + 77])
def test_a_salt_is_one_listings_nonce(net, listed, salt):
    """(seller, salt) fills or cancels once: a listing with the same salt dies with it; below 128 a counter bump
    frees the salt again (the old listings are stale by their counter), from 128 up it stays used."""
    token_id, _, _ = listed
    first = net.listing(net.bob, token_id, PRICE, salt=salt)
    twin = net.listing(net.bob, token_id, PRICE + 1, salt=salt)
    other = net.listing(net.bob, token_id, PRICE, salt=salt + 1)
    net.buy(net.carol, first, net.bob.sign(first))
    assert net.chain.salt_used(net.bob.address, salt) and not net.chain.salt_used(net.bob.address, salt + 1)
    net.carol.transact("back", net.token.functions.transferFrom(net.carol.address, net.bob.address, token_id))
    for dead in (first, twin):
        with pytest.raises(FailedPrecondition, match="ListingUsed"):
            net.buy(net.dave, dead, net.bob.sign(dead))
    net.bob.transact("cancel", net.exchange.functions.cancel([other.as_tuple()]))
    with pytest.raises(FailedPrecondition, match="ListingUsed"):
        net.buy(net.dave, other, net.bob.sign(other))
    net.bob.transact("bump", net.exchange.functions.incrementCounter())
    again = net.listing(net.bob, token_id, PRICE, salt=salt)
    if salt < 128:
        assert not net.chain.salt_used(net.bob.address, salt)
        net.buy(net.dave, again, net.bob.sign(again))
    else:
        with pytest.raises(FailedPrecondition, match="ListingUsed"):
            net.buy(net.dave, again, net.bob.sign(again))


def test_counter_bump_kills_every_earlier_listing(net, listed):
    token_id, listing, signature = listed
    net.bob.transact("bump", net.exchange.functions.incrementCounter())
    counter = net.chain.counter_of(net.bob.address)
    assert counter > listing.counter
    with pytest.raises(FailedPrecondition, match=rf"StaleCounter\(signed=0, current={counter}\)"):
        net.buy(net.carol, listing, signature)
    fresh = net.listing(net.bob, token_id, PRICE, salt=1)
    assert fresh.counter == counter
    net.buy(net.carol, fresh, net.bob.sign(fresh))


@pytest.mark.parametrize("where", ["chain id", "exchange address"])
def test_signature_for_another_chain_or_exchange_fails(net, listed, where):
    _, listing, _ = listed
    chain_id, exchange = net.chain.chain_id(), net.exchange.address
    if where == "chain id":
        chain_id += 1
    else:
        exchange = net.token.address
    signature = sign_listing(listing, key_for("bob"), chain_id, exchange)
    with pytest.raises(FailedPrecondition, match="InvalidSignature"):
        net.buy(net.carol, listing, signature)


def test_high_s_twin_of_a_valid_signature_is_refused(net, listed):
    _, listing, signature = listed
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    assert Account._recover_hash(listing_digest(listing, net.chain.chain_id(), net.exchange.address), signature=twin) == (
        net.bob.address
    )  # ecrecover alone would accept it
    with pytest.raises(FailedPrecondition, match="InvalidSignature"):
        net.buy(net.carol, listing, twin)
    net.buy(net.carol, listing, signature)


def test_signature_by_someone_else_fails(net, listed):
    _, listing, _ = listed
    with pytest.raises(FailedPrecondition, match="InvalidSignature"):
        net.buy(net.carol, listing, net.carol.sign(listing))


def test_buyer_max_price_and_exact_payment(net, listed):
    _, listing, signature = listed
    with pytest.raises(FailedPrecondition, match=rf"PriceAboveMax\(price={PRICE}, maxPrice={PRICE - 1}\)"):
        net.buy(net.carol, listing, signature, max_price=PRICE - 1)
    with pytest.raises(FailedPrecondition, match="WrongPayment"):
        net.buy(net.carol, listing, signature, max_price=PRICE + 1, value=PRICE + 1)
    net.buy(net.carol, listing, signature, max_price=PRICE + 1)  # a higher ceiling still pays the price


def test_expired_listing_fails(net, listed):
    token_id, _, _ = listed
    listing = net.listing(net.bob, token_id, PRICE, expiry=1)
    with pytest.raises(FailedPrecondition, match="ListingExpired"):
        net.buy(net.carol, listing, net.bob.sign(listing))


def test_fee_and_royalty_must_fit_in_the_price(net, listed):
    token_id, _, _ = listed
    no_recipient = net.listing(net.bob, token_id, PRICE, fee=1)
    with pytest.raises(FailedPrecondition, match="FeeWithoutRecipient"):
        net.buy(net.carol, no_recipient, net.bob.sign(no_recipient))
    too_much = net.listing(net.bob, token_id, PRICE, fee=PRICE, fee_recipient=net.fees.address)
    with pytest.raises(FailedPrecondition, match="PaymentsExceedPrice"):
        net.buy(net.carol, too_much, net.bob.sign(too_much))


def test_only_the_signers_token_moves(net, listed):
    token_id, _, _ = listed
    # carol signs a listing of bob's token: the token contract refuses to move it from carol
    net.approve_exchange(net.carol)
    listing = net.listing(net.carol, token_id, PRICE)
    with pytest.raises(FailedPrecondition, match="TransferFromIncorrectOwner|NotOwnerNorApproved"):
        net.buy(net.dave, listing, net.carol.sign(listing))
    assert net.token.functions.ownerOf(token_id).call() == net.bob.address


def test_discoverer_selling_is_paid_once(net):
    token_id = net.mint(net.alice, "first sale")
    net.approve_exchange(net.alice)
    listing = net.listing(net.alice, token_id, PRICE)
    before = net.balance(net.alice.address)
    net.buy(net.bob, listing, net.alice.sign(listing))
    assert net.balance(net.alice.address) - before == PRICE
    assert net.token.functions.royaltyInfo(token_id, 100).call()[0] == net.alice.address


def test_plain_erc721_without_royalty_sells(net):
    base = net.deploy("BaselineERC721")
    net.admin.transact("mint", base.functions.mint(net.bob.address, 5))
    net.bob.transact("approve", base.functions.setApprovalForAll(net.exchange.address, True))
    listing = net.listing(net.bob, 5, PRICE, token=base.address)
    before = net.balance(net.bob.address)
    receipt = net.buy(net.carol, listing, net.bob.sign(listing))
    assert net.balance(net.bob.address) - before == PRICE
    assert base.functions.ownerOf(5).call() == net.carol.address
    assert receipt["status"] == 1


def test_exchange_refuses_plain_ether(net):
    with pytest.raises(Exception, match="revert"):  # no receive(): the exchange never holds ether
        net.w3.eth.estimate_gas({"from": net.w3.eth.accounts[0], "to": net.exchange.address, "value": 1})


def test_contract_wallet_lists_with_erc1271(net):
    owner_key = key_for("wallet owner")
    owner = net.new_wallet("wallet owner")
    wallet = net.deploy("WalletMock", owner.address)
    token_id = net.mint(wallet.address, "wallet")
    approve = net.token.encode_abi("setApprovalForAll", args=[net.exchange.address, True])
    owner.transact("approve via wallet", wallet.functions.execute(net.token.address, 0, approve))

    listing = net.listing(wallet.address, token_id, PRICE)
    forged = sign_listing(listing, key_for("someone else"), net.chain.chain_id(), net.exchange.address)
    with pytest.raises(FailedPrecondition, match="InvalidSignature"):
        net.buy(net.carol, listing, forged)

    net.buy(net.carol, listing, sign_listing(listing, owner_key, net.chain.chain_id(), net.exchange.address))
    assert net.token.functions.ownerOf(token_id).call() == net.carol.address
    assert net.balance(wallet.address) == PRICE


def test_reentrant_seller_is_stopped_by_the_guard(net):
    owner_key = key_for("wallet owner")
    owner = net.new_wallet("wallet owner")
    wallet = net.deploy("WalletMock", owner.address)
    first, second = net.mint(wallet.address, "re-1"), net.mint(wallet.address, "re-2")
    approve = net.token.encode_abi("setApprovalForAll", args=[net.exchange.address, True])
    owner.transact("approve", wallet.functions.execute(net.token.address, 0, approve))
    sign = lambda listing: sign_listing(listing, owner_key, net.chain.chain_id(), net.exchange.address)
    inner = net.listing(wallet.address, second, 0, salt=2)
    reenter = net.exchange.encode_abi("buy", args=[inner.as_tuple(), sign(inner), 0])
    owner.transact("configure", wallet.functions.configure(False, net.exchange.address, reenter))

    outer = net.listing(wallet.address, first, PRICE, salt=1)
    net.buy(net.carol, outer, sign(outer))

    guard = keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert wallet.functions.reenterResult().call() == guard
    assert net.token.functions.ownerOf(second).call() == wallet.address  # the inner sale did not happen
    assert net.token.functions.ownerOf(first).call() == net.carol.address


def test_a_failed_payout_is_credited_and_withdrawn_later(net):
    """A seller whose wallet refuses ether still sells: its proceeds wait in the exchange until it withdraws them
    (to itself once it takes ether, or elsewhere)."""
    owner = net.new_wallet("wallet owner")
    wallet = net.deploy("WalletMock", owner.address)
    token_id = net.mint(wallet.address, "refuser")
    approve = net.token.encode_abi("setApprovalForAll", args=[net.exchange.address, True])
    owner.transact("approve", wallet.functions.execute(net.token.address, 0, approve))
    owner.transact("configure", wallet.functions.configure(True, ZERO, b""))
    listing = net.listing(wallet.address, token_id, PRICE)
    signature = sign_listing(listing, key_for("wallet owner"), net.chain.chain_id(), net.exchange.address)
    start = net.chain.block_number()
    net.buy(net.carol, listing, signature)
    assert net.token.functions.ownerOf(token_id).call() == net.carol.address
    assert net.chain.credit_of(wallet.address) == PRICE == net.balance(net.exchange.address)
    credited = [e for e in net.chain.get_logs(start + 1) if e.name == "Credited"]
    assert [(e.args["payee"], e.args["amount"]) for e in credited] == [(wallet.address, PRICE)]

    withdraw = net.exchange.encode_abi("withdrawTo", args=[owner.address])
    with pytest.raises(FailedPrecondition, match="NothingToWithdraw"):
        owner.transact("withdraw nothing", net.exchange.functions.withdraw())
    before = net.balance(owner.address)
    receipt = owner.transact("withdraw", wallet.functions.execute(net.exchange.address, 0, withdraw))
    assert net.balance(owner.address) - before == PRICE - gas_cost(net, receipt)
    assert net.chain.credit_of(wallet.address) == 0 == net.balance(net.exchange.address)


def test_listing_is_a_frozen_value():
    listing = Listing(seller=Account.from_key(key_for("x")).address, token=ZERO, token_id=1, price=2)
    with pytest.raises(AttributeError):
        listing.price = 3  # type: ignore[misc]
