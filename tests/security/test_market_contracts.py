"""Issue 13 item 5 (and the minter-role fault of item 6): the contracts and the market agree, and no one can block a
sale. Each test is an attack that worked before the change; each runs on the in-process EVM and on anvil (``net``)
unless it needs the market's database.

- a royalty receiver that refuses ether (reverting, or burning all gas) blocked every resale of its token;
- a listing whose token left the seller and came back filled again at its old price;
- the off-chain signature check accepted what the exchange refuses: a high-s twin, a v of 0/1, an ERC-1271 answer
  that only starts with the magic value;
- a listing stayed "active" in the market's tables after its token moved;
- the minter key also held the token's admin role.
"""

from __future__ import annotations

import stat

import pytest
from eth_account import Account
from eth_utils import keccak

from multiverse.chain import ChainConfig, DeployOptions, listing_digest, sign_listing
from multiverse.chain.listing import SECP256K1_N
from multiverse.chain.memory import InProcessChain
from multiverse.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from multiverse.market import ROLE_WALLET, VectorRef
from multiverse.store.auth import Principal
from tests.chain.conftest import anvil_chain, anvil_url, memory_chain, net  # noqa: F401  (fixtures)
from tests.chain.harness import BASE_URI, ETHER, ROYALTY_BPS, admin_address, key_for
from tests.market.conftest import build
from tests.market.world import OUTLIER_PLAYER

PRICE = 2 * ETHER
ROYALTY = PRICE * ROYALTY_BPS // 10_000
ADMIN_ROLE = b"\0" * 32
MINTER_ROLE = keccak(text="MINTER_ROLE")
REVERTS, BURNS_GAS = 1, 2


def _gas_cost(receipt) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def _as(contract, owner, target, call: bytes):
    """``owner`` makes ``contract`` (a RefusingReceiver or WalletMock) call ``target`` with ``call``."""
    return owner.transact("as the contract", contract.functions.execute(target, 0, call))


# -- a royalty receiver cannot block a resale ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [REVERTS, BURNS_GAS], ids=["reverts", "burns-gas"])
def test_a_royalty_receiver_that_refuses_ether_does_not_block_a_resale(net, mode):
    owner = net.new_wallet("refuser owner")
    refuser = net.deploy("RefusingReceiver", owner.address, mode)
    token_id = net.mint(refuser.address, "refused royalty")  # the refuser discovered it: royalties go there
    _as(refuser, owner, net.token.address,
        net.token.encode_abi("transferFrom", args=[refuser.address, net.bob.address, token_id]))
    assert net.token.functions.royaltyInfo(token_id, PRICE).call() == [refuser.address, ROYALTY]
    net.approve_exchange(net.bob)
    listing = net.listing(net.bob, token_id, PRICE)
    bob_before = net.balance(net.bob.address)

    receipt = net.buy(net.carol, listing, net.bob.sign(listing))

    assert net.token.functions.ownerOf(token_id).call() == net.carol.address
    assert int(receipt["gasUsed"]) < 300_000  # a payment gets at most 100,000 gas: burning it all costs little more
    assert net.balance(net.bob.address) - bob_before == PRICE - ROYALTY
    assert net.chain.credit_of(refuser.address) == ROYALTY == net.balance(net.exchange.address)
    # the receiver takes its royalty later, to an address that accepts ether
    before = net.balance(owner.address)
    receipt = _as(refuser, owner, net.exchange.address, net.exchange.encode_abi("withdrawTo", args=[owner.address]))
    assert net.balance(owner.address) - before == ROYALTY - _gas_cost(receipt)
    assert net.chain.credit_of(refuser.address) == 0 == net.balance(net.exchange.address)


def test_a_seller_wallet_that_re_enters_on_payment_gets_nothing_twice(net):
    """Credits are paid once: a payee re-entering withdraw from its receive hook is stopped by the guard, and its
    credit stays until a clean withdrawal."""
    owner = net.new_wallet("wallet owner")
    wallet = net.deploy("WalletMock", owner.address)
    token_id = net.mint(wallet.address, "re-entrant payee")
    _as(wallet, owner, net.token.address, net.token.encode_abi("setApprovalForAll", args=[net.exchange.address, True]))
    owner.transact("refuse", wallet.functions.configure(True, "0x" + "00" * 20, b""))
    listing = net.listing(wallet.address, token_id, PRICE)
    net.buy(net.carol, listing, sign_listing(listing, key_for("wallet owner"), net.chain.chain_id(), net.exchange.address))
    assert net.chain.credit_of(wallet.address) == PRICE
    # now it takes ether, and tries to withdraw again from inside the withdrawal's payment
    owner.transact("re-enter", wallet.functions.configure(False, net.exchange.address,
                                                           net.exchange.encode_abi("withdraw", args=[])))
    _as(wallet, owner, net.exchange.address, net.exchange.encode_abi("withdraw", args=[]))
    assert wallet.functions.reenterResult().call() == keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert net.balance(wallet.address) == PRICE and net.chain.credit_of(wallet.address) == 0
    assert net.balance(net.exchange.address) == 0


# -- a listing does not revive ------------------------------------------------------------------------------


@pytest.mark.parametrize("away", ["transfer", "sale"])
def test_a_listing_does_not_revive_when_its_token_comes_back(net, away):
    token_id = net.mint(net.alice, "revived")
    net.alice.transact("give", net.token.functions.transferFrom(net.alice.address, net.bob.address, token_id))
    net.approve_exchange(net.bob)
    cheap = net.listing(net.bob, token_id, ETHER, salt=1)
    signature = net.bob.sign(cheap)
    if away == "transfer":  # bob moves the token to his other wallet and back
        net.bob.transact("away", net.token.functions.transferFrom(net.bob.address, net.dave.address, token_id))
    else:  # bob sells it with another listing and buys it back
        other = net.listing(net.bob, token_id, PRICE, salt=2)
        net.buy(net.dave, other, net.bob.sign(other))
    net.dave.transact("back", net.token.functions.transferFrom(net.dave.address, net.bob.address, token_id))
    assert net.token.functions.ownerOf(token_id).call() == net.bob.address

    with pytest.raises(FailedPrecondition, match=r"TokenMoved\(signed=1, current=3\)"):
        net.buy(net.carol, cheap, signature)
    assert net.token.functions.ownerOf(token_id).call() == net.bob.address
    fresh = net.listing(net.bob, token_id, PRICE, salt=3)  # signed now, with the token's nonce of now
    assert fresh.token_nonce == 3
    net.buy(net.carol, fresh, net.bob.sign(fresh))


# -- off-chain signature checks agree with the exchange -------------------------------------------------------


def _high_s_twin(signature: bytes) -> bytes:
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28


@pytest.mark.parametrize("mangle", ["high s", "v 0/1"])
def test_a_signature_the_exchange_refuses_is_refused_off_chain_too(net, mangle):
    token_id = net.mint(net.bob, "malleable")
    net.approve_exchange(net.bob)
    listing = net.listing(net.bob, token_id, PRICE)
    digest = listing_digest(listing, net.chain.chain_id(), net.exchange.address)
    signature = net.bob.sign(listing)
    bad = _high_s_twin(signature) if mangle == "high s" else signature[:64] + bytes([signature[64] - 27])
    assert Account._recover_hash(digest, signature=bad) == net.bob.address  # plain ecrecover maths accepts it

    assert net.chain.is_valid_signature(net.bob.address, digest, signature)
    assert not net.chain.is_valid_signature(net.bob.address, digest, bad)
    with pytest.raises(FailedPrecondition, match="InvalidSignature"):
        net.buy(net.carol, listing, bad)


@pytest.mark.parametrize(
    "answer",
    [
        bytes.fromhex("1626ba7e") + b"\0" * 27 + b"\1",  # the magic value, then garbage in the same word
        bytes.fromhex("1626ba7f") + b"\0" * 28,
        b"\xff" * 32,
    ],
    ids=["magic-then-garbage", "off-by-one", "all-ones"],
)
def test_an_erc1271_wallet_answering_a_wrong_non_zero_value_is_refused(net, answer):
    owner = net.new_wallet("wallet owner")
    wallet = net.deploy("WalletMock", owner.address)
    token_id = net.mint(wallet.address, "1271")
    _as(wallet, owner, net.token.address, net.token.encode_abi("setApprovalForAll", args=[net.exchange.address, True]))
    listing = net.listing(wallet.address, token_id, PRICE)
    digest = listing_digest(listing, net.chain.chain_id(), net.exchange.address)
    signature = sign_listing(listing, key_for("wallet owner"), net.chain.chain_id(), net.exchange.address)
    assert net.chain.is_valid_signature(wallet.address, digest, signature)  # the right answer is accepted

    owner.transact("answer", wallet.functions.setAnswer(answer))
    assert not net.chain.is_valid_signature(wallet.address, digest, signature)
    with pytest.raises(FailedPrecondition, match="InvalidSignature"):
        net.buy(net.carol, listing, signature)


# -- the market's tables follow the token ---------------------------------------------------------------------


@pytest.fixture
def mkt(memory_chain, tmp_path):  # noqa: F811
    snapshot = memory_chain.snapshot()
    built = build(memory_chain, tmp_path)
    try:
        yield built
    finally:
        built.saved.store.meta.close()
        memory_chain.revert(snapshot)


def test_a_listing_turns_stale_in_the_market_when_its_token_moves(mkt):
    net = mkt.net
    bob = Principal(net.bob.address, ROLE_WALLET)
    token = mkt.market.claim(bob, VectorRef("demo", mkt.saved.snapshot, "player", OUTLIER_PLAYER))
    net.approve_exchange(net.bob)
    prepared = mkt.market.prepare_listing(bob, token.token_id, price=PRICE).listing
    row = mkt.market.submit_listing(bob, prepared, net.bob.sign(prepared))
    mkt.indexer.sync()
    assert [x.listing_hash for x in mkt.market.listings(token_id=token.token_id)] == [row.listing_hash]

    tid = int(token.token_id, 16)
    net.bob.transact("away", net.token.functions.transferFrom(net.bob.address, net.dave.address, tid))
    mkt.indexer.sync()
    assert mkt.market.listings(token_id=token.token_id) == []
    assert [x.listing_hash for x in mkt.market.listings(token_id=token.token_id, status="stale")] == [row.listing_hash]

    net.dave.transact("back", net.token.functions.transferFrom(net.dave.address, net.bob.address, tid))
    mkt.indexer.sync()
    assert mkt.market.listings(token_id=token.token_id) == []  # back with the seller: still dead, as on the chain
    with pytest.raises(FailedPrecondition, match=r"token nonce 0 but .* \(its nonce is 2\)"):
        mkt.market.submit_listing(bob, prepared, net.bob.sign(prepared))
    again = mkt.market.prepare_listing(bob, token.token_id, price=PRICE).listing
    assert again.token_nonce == 2
    fresh = mkt.market.submit_listing(bob, again, net.bob.sign(again))
    assert [x.status for x in mkt.market.listings(token_id=token.token_id, status="")] == ["stale", "active"]
    assert fresh.status == "active"


# -- the minter is not the admin --------------------------------------------------------------------------------


def test_the_minter_does_not_hold_the_admin_role(net):
    roles = net.token.functions
    minter = net.chain.minter
    assert roles.hasRole(MINTER_ROLE, minter).call() and not roles.hasRole(ADMIN_ROLE, minter).call()
    assert roles.hasRole(ADMIN_ROLE, admin_address()).call()
    with pytest.raises(PermissionDenied, match="AccessControlUnauthorizedAccount"):
        net.minter.transact("grant", roles.grantRole(MINTER_ROLE, net.bob.address))
    with pytest.raises(PermissionDenied):
        net.minter.transact("re-point", roles.setBaseURI("https://evil.test/"))
    assert net.chain.token_info(f"{net.mint(net.alice, 'uri'):064x}").token_uri.startswith(BASE_URI)
    # the contract itself refuses one address for both roles
    with pytest.raises(FailedPrecondition, match="AdminIsMinter"):
        net.deploy("RareVector", minter, minter, ROYALTY_BPS, "", "", by=net.minter)
    # and so does the port, which also wants an admin named
    for admin, match in ((None, "chain.admin"), (minter, "other than the minter")):
        with pytest.raises(InvalidArgument, match=match):
            net.chain.deploy(DeployOptions(admin=admin))


def test_the_in_process_chain_makes_a_separate_admin_key(tmp_path):
    chain = InProcessChain(ChainConfig(data_dir=tmp_path))
    try:
        token = chain.token_contract.functions
        key = tmp_path / "token-admin.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        admin = Account.from_key(key.read_text().strip()).address
        assert admin != chain.minter
        assert token.hasRole(ADMIN_ROLE, admin).call() and not token.hasRole(ADMIN_ROLE, chain.minter).call()
    finally:
        chain.close()
