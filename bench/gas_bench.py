"""Gas of RareVector and Exchange against an unmodified OpenZeppelin ERC-721 deployed in the same run.

Runs on the in-process EVM (eth-tester + py-evm), like the anchors in /work/shared/ANCHORS.md: whole-transaction
gas (21,000 base + calldata + execution - refunds). Token ids are sha256 digests for both tokens; every payee
(seller, royalty receiver, fee recipient) already holds ether, as paying an empty account costs 25,000 more.

Scenarios:
- mint first / later: to an address with no token / with one already;
- transfer new / existing holder: transferFrom by the owner to an address with no token / with one; RareVector's
  first move of a token also records its discoverer (one storage write per token lifetime), so both cases are
  given for a token's first move and for a token that moved before;
- sales, on our Exchange and on Seaport 1.6 (npm seaport-core, unmodified, compiled by contracts/build_anchors.js
  and deployed in this run; bench/seaport_anchor.py), in two scenarios: "fresh" (the seller sells their only token,
  the buyer holds none) and "holders" (the seller keeps a token, the buyer holds one; Seaport's published 98,028
  is this scenario: the in-run Seaport reproduces it within a few gas). "no fee" sells a plain OZ token (no
  ERC-2981); "royalty" a RareVector token that moved before, royalty paid to its discoverer. Listings use salt 0, as
  the market's first listing of a seller does; also given for our Exchange: a seller's second sale (salt 1), a salt
  from 128 up, a sale with royalty and fee, and a discoverer's first sale (royalty merged into the proceeds).

Last line: JSON with the figures and the ratios to the anchors and to the in-run baseline.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account

from multiverse.chain import ChainConfig, Listing, Provenance
from multiverse.chain.artifacts import load_artifact
from multiverse.chain.memory import InProcessChain
from multiverse.chain.wallet import LocalWallet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seaport_anchor import Seaport

ANCHORS = {
    "mint_first": 68_781,
    "mint_later": 51_681,
    "mint_sha256_first": 69_153,
    "mint_sha256_later": 52_053,
    "transfer_new": 59_866,
    "transfer_existing": 42_766,
    "sale_no_fee": 98_028,
    "sale_royalty": 132_313,
}
MINT_TARGET = 1.03  # mint within 3% of the baseline
ETHER = 10**18
PRICE = ETHER
ROYALTY_BPS = 500


def _id(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest(), "big")


def _calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def _log_gas(log) -> int:
    return 375 + 375 * len(log["topics"]) + 8 * len(log["data"])


def main() -> dict:
    started = time.perf_counter()
    minter_key = Account.create().key.hex()
    chain = InProcessChain(ChainConfig(kind="memory", minter_key=minter_key, royalty_bps=ROYALTY_BPS))
    w3 = chain.web3
    token, exchange = chain.token_contract, chain.exchange_contract

    keys: dict[str, str] = {}

    def wallet() -> LocalWallet:
        key = Account.create().key.hex()
        chain.fund(Account.from_key(key).address, 100 * ETHER)
        w = LocalWallet(chain, key)
        keys[w.address] = key
        return w

    def gas(receipt) -> int:
        return int(receipt["gasUsed"])

    deployer = LocalWallet(chain, minter_key)
    art = load_artifact("BaselineERC721")
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = deployer.transact("deploy BaselineERC721", factory.constructor())
    base = w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

    a, b, c, d, e, fee_to = (wallet() for _ in range(6))
    figures: dict[str, int] = {}
    # Transfers: the sender keeps at least one token (no refund for a zeroed balance), as in the anchors.

    # -- baseline: plain OZ mint and transfers ------------------------------------------------------------
    base_first = deployer.transact("mint", base.functions.mint(a.address, _id("base-1")))
    figures["baseline_mint_first"] = gas(base_first)
    figures["baseline_mint_later"] = gas(deployer.transact("mint", base.functions.mint(a.address, _id("base-2"))))
    deployer.transact("mint", base.functions.mint(a.address, _id("base-3")))
    figures["baseline_transfer_new"] = gas(a.transact("t", base.functions.transferFrom(a.address, b.address, _id("base-1"))))
    figures["baseline_transfer_existing"] = gas(
        a.transact("t", base.functions.transferFrom(a.address, b.address, _id("base-2")))
    )

    # -- RareVector mint and transfers --------------------------------------------------------------------
    prov = Provenance("tileworld-v1", hashlib.sha256(b"snapshot").hexdigest(), 17, 999_500)
    rare_first = chain.mint(a.address, f"{_id('rare-1'):064x}", prov)
    figures["mint_first"] = rare_first.gas_used
    figures["mint_later"] = chain.mint(a.address, f"{_id('rare-2'):064x}", prov).gas_used
    for i in range(3, 6):
        chain.mint(a.address, f"{_id(f'rare-{i}'):064x}", prov)
    t = token.functions
    figures["transfer_new_first_move"] = gas(a.transact("t", t.transferFrom(a.address, c.address, _id("rare-1"))))
    figures["transfer_existing_first_move"] = gas(a.transact("t", t.transferFrom(a.address, c.address, _id("rare-2"))))
    # rare-3..5 move a -> e first (recording their discoverer); then measured e -> d (new) and e -> d (existing)
    for i in (3, 4, 5):
        a.transact("t", t.transferFrom(a.address, e.address, _id(f"rare-{i}")))
    figures["transfer_new"] = gas(e.transact("t", t.transferFrom(e.address, d.address, _id("rare-3"))))
    figures["transfer_existing"] = gas(e.transact("t", t.transferFrom(e.address, d.address, _id("rare-4"))))

    # Mint overhead over the in-run baseline, split into what the extra calldata and the Provenance log cost
    # (exact, from the bytes) and the rest (AccessControl role check, input checks, dispatch).
    base_tx, rare_tx = w3.eth.get_transaction(base_first["transactionHash"]), w3.eth.get_transaction(rare_first.tx_hash)
    rare_receipt = w3.eth.get_transaction_receipt(rare_first.tx_hash)
    overhead = figures["mint_first"] - figures["baseline_mint_first"]
    calldata = _calldata_gas(bytes(rare_tx["input"])) - _calldata_gas(bytes(base_tx["input"]))
    provenance_log = _log_gas(rare_receipt["logs"][1])
    breakdown = {
        "total": overhead,
        "provenance_calldata": calldata,
        "provenance_log": provenance_log,
        "role_check_and_rest": overhead - calldata - provenance_log,
    }

    # -- sales on the Exchange ----------------------------------------------------------------------------
    def sell(
        seller: LocalWallet, buyer: LocalWallet, token_address: str, token_id: int, fee: int = 0, salt: int = 0
    ) -> int:
        listing = Listing(
            seller=seller.address,
            token=token_address,
            token_id=token_id,
            price=PRICE,
            fee_recipient=fee_to.address if fee else "0x" + "00" * 20,
            fee=fee,
            counter=chain.counter_of(seller.address),
            salt=salt,  # the listing's nonce: the market hands out the smallest free one (see Exchange.sol)
            expiry=2**40,
        )
        signature = seller.sign(listing)
        receipt = buyer.transact("buy", exchange.functions.buy(listing.as_tuple(), signature, PRICE), value=PRICE)
        return gas(receipt)

    # -- the same sales on our Exchange and on Seaport 1.6 (unmodified, deployed in this run) ------------------
    # Two scenarios on each venue: "fresh" (the seller sells their only token, so their zeroed balance earns a
    # refund; the buyer holds none, so their balance is a new slot) and "holders" (the seller keeps a token, the
    # buyer already holds one: Seaport's published 98,028 is this scenario, reproduced below within a few gas).
    # "no_fee" sells a plain OZ token (no ERC-2981); "royalty" a RareVector token that moved before, its royalty
    # read from ERC-2981 by our Exchange and carried by Seaport's order as a second consideration item.
    seaport = Seaport(w3, deployer.transact)
    royalty = PRICE * ROYALTY_BPS // 10_000

    def seaport_sell(seller: LocalWallet, buyer: LocalWallet, token_address: str, token_id: int,
                     royalty_to: str = "", efficient: bool = True, basic: bool = True) -> int:
        cut = royalty if royalty_to else 0
        params, value = seaport.signed_order(keys[seller.address], token_address, token_id, PRICE - cut,
                                             royalty_to or None, cut, basic=basic)
        return gas(seaport.fill(buyer, params, value, efficient=efficient, basic=basic))

    def base_token(owner: LocalWallet, label: str) -> int:
        deployer.transact("mint", base.functions.mint(owner.address, _id(label)))
        return _id(label)

    def rare_token(owner: LocalWallet, label: str) -> int:
        """A RareVector token minted to ``a`` (its discoverer) that moved on to ``owner``."""
        chain.mint(a.address, f"{_id(label):064x}", prov)
        a.transact("t", t.transferFrom(a.address, owner.address, _id(label)))
        return _id(label)

    for venue, operator in (("exchange", exchange.address), ("seaport", seaport.address)):
        for scenario in ("fresh", "holders"):
            for kind in ("no_fee", "royalty"):
                seller, buyer = wallet(), wallet()
                make, contract = (base_token, base) if kind == "no_fee" else (rare_token, token)
                tag = f"{venue}-{scenario}-{kind}"
                sold = make(seller, tag)
                if scenario == "holders":
                    make(seller, tag + "-kept")
                    make(buyer, tag + "-held")
                seller.transact("approve", contract.functions.setApprovalForAll(operator, True))
                if venue == "exchange":
                    used = sell(seller, buyer, contract.address, sold)
                else:
                    used = seaport_sell(seller, buyer, contract.address, sold, a.address if kind == "royalty" else "")
                figures[f"{venue}_sale_{kind}_{scenario}"] = used
    # Seaport's other basic-order entry point: the same path behind a costlier selector (fresh, no fee)
    s7, b8 = wallet(), wallet()
    sold = base_token(s7, "seaport-plain")
    s7.transact("approve", base.functions.setApprovalForAll(seaport.address, True))
    figures["seaport_sale_no_fee_fresh_fulfillBasicOrder"] = seaport_sell(s7, b8, base.address, sold, efficient=False)
    # Seaport's general path (fulfillOrder) for a listing with a royalty item, of a plain OZ token to a fresh
    # buyer: within 1% of the published 132,313, the likely origin of that figure
    s8, b9 = wallet(), wallet()
    sold = base_token(s8, "seaport-general")
    s8.transact("approve", base.functions.setApprovalForAll(seaport.address, True))
    figures["seaport_sale_royalty_fresh_fulfillOrder"] = seaport_sell(s8, b9, base.address, sold, a.address,
                                                                      basic=False)

    # -- more of our Exchange (fresh buyer, the seller's last token unless said) ---------------------------------
    # a seller's second sale (salt 1; the first used salt 0): the seller's word is non-zero by then
    s5, b5, b6 = wallet(), wallet(), wallet()
    first, second = base_token(s5, "base-sale-3"), base_token(s5, "base-sale-4")
    s5.transact("approve", base.functions.setApprovalForAll(exchange.address, True))
    sell(s5, b5, base.address, first)
    figures["exchange_sale_no_fee_repeat_seller"] = sell(s5, b6, base.address, second, salt=1)
    # a salt from 128 up (a per-seller bitmap word apart from the counter)
    s6, b7 = wallet(), wallet()
    sold = base_token(s6, "base-sale-5")
    s6.transact("approve", base.functions.setApprovalForAll(exchange.address, True))
    figures["exchange_sale_no_fee_high_salt"] = sell(s6, b7, base.address, sold, salt=1000)
    # royalty and a 2% fee
    s3, b3 = wallet(), wallet()
    sold = rare_token(s3, "rare-fee")
    s3.transact("approve", t.setApprovalForAll(exchange.address, True))
    figures["exchange_sale_royalty_fee"] = sell(s3, b3, token.address, sold, fee=PRICE // 50)
    # a discoverer's first sale: royalty goes to the seller (merged), the discoverer is recorded
    disc, b4 = wallet(), wallet()
    chain.mint(disc.address, f"{_id('rare-first-sale'):064x}", prov)
    disc.transact("approve", t.setApprovalForAll(exchange.address, True))
    figures["exchange_sale_first_by_discoverer"] = sell(disc, b4, token.address, _id("rare-first-sale"))

    def ratio(x: int, y: int) -> float:
        return round(x / y, 4)

    ratios = {
        "mint_first_vs_anchor": ratio(figures["mint_first"], ANCHORS["mint_first"]),
        "mint_later_vs_anchor": ratio(figures["mint_later"], ANCHORS["mint_later"]),
        "mint_first_vs_baseline": ratio(figures["mint_first"], figures["baseline_mint_first"]),
        "mint_later_vs_baseline": ratio(figures["mint_later"], figures["baseline_mint_later"]),
        "mint_first_vs_sha256_anchor": ratio(figures["mint_first"], ANCHORS["mint_sha256_first"]),
        "baseline_mint_first_vs_anchor": ratio(figures["baseline_mint_first"], ANCHORS["mint_first"]),
        "baseline_mint_later_vs_anchor": ratio(figures["baseline_mint_later"], ANCHORS["mint_later"]),
        "transfer_new_vs_anchor": ratio(figures["transfer_new"], ANCHORS["transfer_new"]),
        "transfer_existing_vs_anchor": ratio(figures["transfer_existing"], ANCHORS["transfer_existing"]),
        "transfer_new_vs_baseline": ratio(figures["transfer_new"], figures["baseline_transfer_new"]),
        "transfer_existing_vs_baseline": ratio(figures["transfer_existing"], figures["baseline_transfer_existing"]),
        # the provenance event alone (its calldata and log, exact from the bytes) against the later mint
        "provenance_event_vs_baseline_mint_later": ratio(calldata + provenance_log, figures["baseline_mint_later"]),
        "seaport_no_fee_holders_vs_anchor": ratio(figures["seaport_sale_no_fee_holders"], ANCHORS["sale_no_fee"]),
        "seaport_royalty_fresh_general_path_vs_anchor": ratio(figures["seaport_sale_royalty_fresh_fulfillOrder"],
                                                              ANCHORS["sale_royalty"]),
    }
    for scenario in ("fresh", "holders"):
        for kind in ("no_fee", "royalty"):
            ours, theirs = figures[f"exchange_sale_{kind}_{scenario}"], figures[f"seaport_sale_{kind}_{scenario}"]
            ratios[f"sale_{kind}_{scenario}_vs_seaport"] = ratio(ours, theirs)
            ratios[f"sale_{kind}_{scenario}_vs_anchor"] = ratio(ours, ANCHORS[f"sale_{kind}"])
    at_most_seaport = {kind: all(figures[f"exchange_sale_{kind}_{sc}"] <= figures[f"seaport_sale_{kind}_{sc}"]
                                 for sc in ("fresh", "holders")) for kind in ("no_fee", "royalty")}
    targets = {
        "mint_within_3pct_of_baseline": ratios["mint_first_vs_baseline"] <= MINT_TARGET
        and ratios["mint_later_vs_baseline"] <= MINT_TARGET,
        # Seaport's 98,028 is the holders scenario (Seaport reproduces it in this run): ours there, and ours at most
        # Seaport's in this run in both scenarios
        "sale_no_fee_at_most_anchor": figures["exchange_sale_no_fee_holders"] <= ANCHORS["sale_no_fee"]
        and at_most_seaport["no_fee"],
        "sale_royalty_at_most_anchor": max(figures["exchange_sale_royalty_fresh"],
                                           figures["exchange_sale_royalty_holders"]) <= ANCHORS["sale_royalty"]
        and at_most_seaport["royalty"],
    }
    for name, value in figures.items():
        print(f"{name:44s} {value:>9,d}")
    print(f"{'mint overhead over baseline':44s} {breakdown}")
    return {
        "bench": "gas",
        "evm": "eth-tester/py-evm (in-process)",
        "compiler": load_artifact("RareVector").compiler,
        "seaport": {"version": seaport.version, "compiler": seaport.compiler, "entry": "fulfillBasicOrder_efficient_6GL6yc"},
        "gas": figures,
        "anchors": ANCHORS,
        "ratios": ratios,
        "mint_overhead": breakdown,
        "targets_met": targets,
        "seconds": round(time.perf_counter() - started, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
