"""Exchange invariants under random sequences of listings, fills, cancels, counter bumps and transfers.

A model predicts each fill's outcome from what the contracts promise; the chain must agree, with exact payouts:
- the exchange never holds tokens or ether;
- a listing fills at most once; a cancelled or counter-bumped listing never fills, nor one whose token moved after
  it was signed (even back to the seller);
- seller proceeds + royalty + fee = price, and the buyer pays exactly the price, never above their maximum;
- only the signer's tokens move.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from multiverse.chain import Listing, listing_digest
from multiverse.errors import FailedPrecondition
from tests.chain.harness import ETHER, FAR_FUTURE, ROYALTY_BPS, ZERO, Net

TRADERS = ("alice", "bob", "carol", "dave")
TOKENS = 3
STEPS = settings(
    max_examples=6,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Signed:
    listing: Listing
    signature: bytes
    digest: bytes
    seller: str  # trader name


@dataclass
class World:
    """The starting state every example reverts to."""

    net: Net
    token_ids: list[int]
    snapshot: object


def make_world(net: Net) -> World:
    token_ids = [net.mint(getattr(net, TRADERS[i]), f"state-{i}") for i in range(TOKENS)]
    for name in TRADERS:
        net.approve_exchange(getattr(net, name))
    return World(net, token_ids, net.snapshot())


class ExchangeMachine(RuleBasedStateMachine):
    world: World  # set per test run

    listings = Bundle("listings")

    def __init__(self) -> None:
        super().__init__()
        self.net = self.world.net
        self.addr = {name: getattr(self.net, name).address for name in TRADERS}
        self.tokens = list(self.world.token_ids)
        self.owner = {tid: TRADERS[i] for i, tid in enumerate(self.tokens)}
        self.discoverer = dict(self.owner)
        self.moves = dict.fromkeys(self.tokens, 0)  # the token's nonce
        self.counter = dict.fromkeys(TRADERS, 0)
        self.used: set[bytes] = set()
        self.salt = 0

    def teardown(self) -> None:
        self.net.revert(self.world.snapshot)
        self.world.snapshot = self.net.snapshot()  # a snapshot is used up by reverting to it

    # -- rules -----------------------------------------------------------------------------------------------

    @rule(
        target=listings,
        token=st.integers(0, TOKENS - 1),
        signer=st.sampled_from(["owner", "owner", "owner", *TRADERS]),
        price=st.sampled_from([0, 1, 10**15, ETHER, 3 * ETHER + 7]),
        fee_percent=st.sampled_from([0, 0, 1, 20]),
        nonce_offset=st.sampled_from([0, 0, 0, -1, 1]),
    )
    def sign_listing(self, token: int, signer: str, price: int, fee_percent: int, nonce_offset: int) -> Signed:
        tid = self.tokens[token]
        seller = self.owner[tid] if signer == "owner" else signer
        fee = price * fee_percent // 100
        self.salt += 1
        listing = Listing(
            seller=self.addr[seller],
            token=self.net.token.address,
            token_id=tid,
            price=price,
            fee_recipient=self.net.fees.address if fee else ZERO,
            fee=fee,
            counter=self.counter[seller],
            salt=self.salt if self.salt % 2 else self.salt + 300,  # unique; both kinds of salt (below 128 and not)
            expiry=FAR_FUTURE,
            token_nonce=max(self.moves[tid] + nonce_offset, 0),
        )
        digest = listing_digest(listing, self.net.chain.chain_id(), self.net.exchange.address)
        return Signed(listing, getattr(self.net, seller).sign(listing), digest, seller)

    @rule(signed=listings, buyer=st.sampled_from(TRADERS), slack=st.sampled_from([-1, 0, 0, 1, 10**17]))
    def buy(self, signed: Signed, buyer: str, slack: int) -> None:
        listing = signed.listing
        max_price = max(listing.price + slack, 0)
        tid = listing.token_id
        fillable = (
            signed.digest not in self.used
            and listing.counter == self.counter[signed.seller]
            and self.owner[tid] == signed.seller
            and listing.token_nonce == self.moves[tid]
            and listing.price <= max_price
        )
        payees = [*self.addr.values(), self.net.fees.address, self.net.exchange.address]
        before = {a: self.net.balance(a) for a in payees}
        if not fillable:
            with pytest.raises(FailedPrecondition):
                self.net.buy(getattr(self.net, buyer), listing, signed.signature, max_price=max_price)
            assert {a: self.net.balance(a) for a in payees} == before
            return

        receipt = self.net.buy(getattr(self.net, buyer), listing, signed.signature, max_price=max_price)
        royalty = listing.price * ROYALTY_BPS // 10_000
        seller, discoverer = self.addr[signed.seller], self.addr[self.discoverer[tid]]
        proceeds = listing.price - royalty - listing.fee
        assert proceeds + royalty + listing.fee == listing.price and proceeds >= 0
        # Accumulate: seller, discoverer and buyer may be one address (a dict literal would keep only one value).
        expected: Counter[str] = Counter()
        expected[seller] += proceeds
        expected[discoverer] += royalty
        expected[self.net.fees.address] += listing.fee
        expected[self.addr[buyer]] -= listing.price + int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        after = {a: self.net.balance(a) for a in payees}
        assert {a: after[a] - before[a] for a in payees} == {a: expected[a] for a in payees}
        assert listing.price <= max_price
        self.owner[tid] = buyer
        self.moves[tid] += 1
        self.used.add(signed.digest)

    @rule(signed=listings)
    def cancel(self, signed: Signed) -> None:
        seller = getattr(self.net, signed.seller)
        seller.transact("cancel", self.net.exchange.functions.cancel([signed.listing.as_tuple()]))
        self.used.add(signed.digest)

    @rule(trader=st.sampled_from(TRADERS))
    def bump_counter(self, trader: str) -> None:
        getattr(self.net, trader).transact("bump", self.net.exchange.functions.incrementCounter())
        new = self.net.chain.counter_of(self.addr[trader])
        assert new > self.counter[trader]
        self.counter[trader] = new

    @rule(token=st.integers(0, TOKENS - 1), to=st.sampled_from(TRADERS))
    def transfer(self, token: int, to: str) -> None:
        tid = self.tokens[token]
        holder = self.owner[tid]
        getattr(self.net, holder).transact(
            "transfer", self.net.token.functions.transferFrom(self.addr[holder], self.addr[to], tid)
        )
        self.owner[tid] = to
        self.moves[tid] += 1

    # -- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def exchange_holds_nothing_and_owners_match(self) -> None:
        assert self.net.balance(self.net.exchange.address) == 0
        for tid in self.tokens:
            assert self.net.token.functions.ownerOf(tid).call() == self.addr[self.owner[tid]]
            assert self.net.chain.token_nonce(f"{tid:064x}") == self.moves[tid]
        assert self.net.token.functions.balanceOf(self.net.exchange.address).call() == 0


def test_exchange_invariants(net):
    world = make_world(net)
    machine = type("Machine", (ExchangeMachine,), {"world": world})
    run_state_machine_as_test(machine, settings=STEPS)
