"""Gas of RareVector and Exchange against unmodified OpenZeppelin and Solady ERC-721s deployed in the same run.

Runs on the in-process EVM (eth-tester + py-evm), like the anchors in /work/shared/ANCHORS.md: whole-transaction
gas (21,000 base + calldata + execution - refunds). Token ids are sha256 digests for both tokens; every payee
(seller, royalty receiver, fee recipient) already holds ether, as paying an empty account costs 25,000 more.

RareVector is built on Solady's ERC721; the same contract on OpenZeppelin's ERC721 (contracts/baseline/RareVectorOZ.sol,
same interface and behaviour: provenance event, minter role, ERC-2981, per-token nonce) is measured beside it in every
token scenario and in the royalty sales, with the suffix ``_oz``.

Scenarios:
- mint first / later: to an address with no token / with one already;
- transfer new / existing holder: transferFrom by the owner to an address with no token / with one; RareVector's
  first move of a token also records its discoverer (one storage write per token lifetime), so both cases are
  given for a token's first move and for a token that moved before; every move bumps the token's nonce;
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
MINT_TARGET = 1.03  # mint within 3% of the plain OpenZeppelin baseline
ZERO = "0x" + "00" * 20
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
    admin = Account.create().address
    chain = InProcessChain(ChainConfig(kind="memory", minter_key=minter_key, royalty_bps=ROYALTY_BPS, admin=admin))
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

    def deploy(name: str, *args):
        art = load_artifact(name)
        receipt = deployer.transact(f"deploy {name}", w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args))
        return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

    base, base_solady = deploy("BaselineERC721"), deploy("BaselineSoladyERC721")
    rare_oz = deploy("RareVectorOZ", admin, deployer.address, ROYALTY_BPS, "", "")
    figures: dict[str, int] = {}
    # the commitment: a sha256 like any other (multiverse/chain/provenance.py), so its calldata costs what a real one does
    prov = Provenance("tileworld-v1", hashlib.sha256(b"snapshot").hexdigest(), 17, 999_500,
                      hashlib.sha256(b"mint record").hexdigest())
    prov_args = (b"tileworld-v1".ljust(32, b"\0"), bytes.fromhex(prov.snapshot), prov.index << 32 | prov.rarity_ppm,
                 bytes.fromhex(prov.commitment))
    # Transfers: the sender keeps at least one token (no refund for a zeroed balance), as in the anchors.

    def plain(contract, label: str) -> dict[str, object]:
        """Mint first / later and transfers to a new / an existing holder on a plain ERC-721 with an open mint."""
        a, b = wallet(), wallet()
        first = deployer.transact("mint", contract.functions.mint(a.address, _id(f"{label}-1")))
        later = deployer.transact("mint", contract.functions.mint(a.address, _id(f"{label}-2")))
        deployer.transact("mint", contract.functions.mint(a.address, _id(f"{label}-3")))
        f = contract.functions
        return {
            "mint_first": gas(first),
            "mint_later": gas(later),
            "transfer_new": gas(a.transact("t", f.transferFrom(a.address, b.address, _id(f"{label}-1")))),
            "transfer_existing": gas(a.transact("t", f.transferFrom(a.address, b.address, _id(f"{label}-2")))),
            "receipt": first,
        }

    def rare(contract, label: str) -> dict[str, object]:
        """The same on a RareVector build, by the minter; a token's first move and a later one apart."""
        a, c, d, e = wallet(), wallet(), wallet(), wallet()
        f = contract.functions
        mint = lambda i: deployer.transact("mint", f.mint(a.address, _id(f"{label}-{i}").to_bytes(32, "big"), *prov_args))
        first, later = mint(1), mint(2)
        for i in range(3, 6):
            mint(i)
        out: dict[str, object] = {"mint_first": gas(first), "mint_later": gas(later), "receipt": first}
        out["transfer_new_first_move"] = gas(a.transact("t", f.transferFrom(a.address, c.address, _id(f"{label}-1"))))
        out["transfer_existing_first_move"] = gas(
            a.transact("t", f.transferFrom(a.address, c.address, _id(f"{label}-2")))
        )
        # 3..5 move a -> e first (recording their discoverer); then measured e -> d (new) and e -> d (existing)
        for i in (3, 4, 5):
            a.transact("t", f.transferFrom(a.address, e.address, _id(f"{label}-{i}")))
        out["transfer_new"] = gas(e.transact("t", f.transferFrom(e.address, d.address, _id(f"{label}-3"))))
        out["transfer_existing"] = gas(e.transact("t", f.transferFrom(e.address, d.address, _id(f"{label}-4"))))
        return out

    # -- baselines (plain OpenZeppelin and plain Solady) and both RareVector builds ----------------------
    receipts = {}
    for prefix, measured in (
        ("baseline_", plain(base, "base")),
        ("baseline_solady_", plain(base_solady, "solady")),
        ("", rare(token, "rare")),
        ("oz_", rare(rare_oz, "rare-oz")),
    ):
        receipts[prefix] = measured.pop("receipt")
        figures.update({f"{prefix}{name}": value for name, value in measured.items()})
    for name in [k for k in figures if k.startswith("oz_")]:  # suffix, not prefix: oz_mint_first -> mint_first_oz
        figures[name[3:] + "_oz"] = figures.pop(name)

    # Mint overhead over the ERC721 it is built on (plain Solady, in this run), split into what the extra calldata
    # and the Provenance log cost (exact, from the bytes) and the rest (AccessControl role check, input checks).
    def tx(receipt):
        return w3.eth.get_transaction(receipt["transactionHash"])

    overhead = figures["mint_first"] - figures["baseline_solady_mint_first"]
    calldata = _calldata_gas(bytes(tx(receipts[""])["input"])) - _calldata_gas(bytes(tx(receipts["baseline_solady_"])["input"]))
    provenance_log = _log_gas(receipts[""]["logs"][1])
    breakdown = {
        "total": overhead,
        "provenance_calldata": calldata,
        "provenance_log": provenance_log,
        "role_check_and_rest": overhead - calldata - provenance_log,
    }
    a, fee_to = wallet(), wallet()  # a: the discoverer of every RareVector token sold below
    t = token.functions

    # -- sales on the Exchange ----------------------------------------------------------------------------
    def sell(
        seller: LocalWallet, buyer: LocalWallet, token_address: str, token_id: int, fee: int = 0, salt: int = 0
    ) -> int:
        listing = Listing(
            seller=seller.address,
            token=token_address,
            token_id=token_id,
            price=PRICE,
            fee_recipient=fee_to.address if fee else ZERO,
            fee=fee,
            counter=chain.counter_of(seller.address),
            salt=salt,  # the listing's nonce: the market hands out the smallest free one (see Exchange.sol)
            expiry=2**40,
            token_nonce=_token_nonce(token_address, token_id),
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

    def _token_nonce(token_address: str, token_id: int) -> int:
        for contract in (token, rare_oz):
            if contract.address == token_address:
                return contract.functions.tokenNonce(token_id).call()
        return 0  # a plain ERC-721 keeps no nonce

    def base_token(owner: LocalWallet, label: str) -> int:
        deployer.transact("mint", base.functions.mint(owner.address, _id(label)))
        return _id(label)

    def rare_token(owner: LocalWallet, label: str, contract=token) -> int:
        """A RareVector token minted to ``a`` (its discoverer) that moved on to ``owner``."""
        deployer.transact("mint", contract.functions.mint(a.address, _id(label).to_bytes(32, "big"), *prov_args))
        a.transact("t", contract.functions.transferFrom(a.address, owner.address, _id(label)))
        return _id(label)

    def rare_oz_token(owner: LocalWallet, label: str) -> int:
        return rare_token(owner, label, rare_oz)

    for venue, operator in (("exchange", exchange.address), ("seaport", seaport.address), ("exchange_oz", exchange.address)):
        for scenario in ("fresh", "holders"):
            for kind in ("no_fee", "royalty"):
                if venue == "exchange_oz" and kind == "no_fee":
                    continue  # the OpenZeppelin build of RareVector is measured in royalty sales only
                seller, buyer = wallet(), wallet()
                make, contract = (base_token, base) if kind == "no_fee" else (rare_token, token)
                if venue == "exchange_oz":
                    make, contract = rare_oz_token, rare_oz
                tag = f"{venue}-{scenario}-{kind}"
                sold = make(seller, tag)
                if scenario == "holders":
                    make(seller, tag + "-kept")
                    make(buyer, tag + "-held")
                seller.transact("approve", contract.functions.setApprovalForAll(operator, True))
                if venue == "seaport":
                    used = seaport_sell(seller, buyer, contract.address, sold, a.address if kind == "royalty" else "")
                else:
                    used = sell(seller, buyer, contract.address, sold)
                suffix = "_oz" if venue == "exchange_oz" else ""
                figures[f"{venue.removesuffix('_oz')}_sale_{kind}_{scenario}{suffix}"] = used
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
    # a royalty receiver that refuses ether: the sale goes through and the royalty is credited for withdraw()
    refuser = deploy("RefusingReceiver", deployer.address, 1)
    deployer.transact("mint", t.mint(refuser.address, _id("rare-refused").to_bytes(32, "big"), *prov_args))
    s9, b10 = wallet(), wallet()
    move = token.encode_abi("transferFrom", args=[refuser.address, s9.address, _id("rare-refused")])
    deployer.transact("move", refuser.functions.execute(token.address, 0, move))
    s9.transact("approve", t.setApprovalForAll(exchange.address, True))
    figures["exchange_sale_royalty_credited"] = sell(s9, b10, token.address, _id("rare-refused"))

    def ratio(x: int, y: int) -> float:
        return round(x / y, 4)

    ratios = {
        "mint_first_vs_anchor": ratio(figures["mint_first"], ANCHORS["mint_first"]),
        "mint_later_vs_anchor": ratio(figures["mint_later"], ANCHORS["mint_later"]),
        "mint_first_vs_baseline": ratio(figures["mint_first"], figures["baseline_mint_first"]),
        "mint_later_vs_baseline": ratio(figures["mint_later"], figures["baseline_mint_later"]),
        "mint_first_oz_vs_baseline": ratio(figures["mint_first_oz"], figures["baseline_mint_first"]),
        "mint_later_oz_vs_baseline": ratio(figures["mint_later_oz"], figures["baseline_mint_later"]),
        "mint_first_vs_solady_baseline": ratio(figures["mint_first"], figures["baseline_solady_mint_first"]),
        "mint_first_vs_sha256_anchor": ratio(figures["mint_first"], ANCHORS["mint_sha256_first"]),
        "baseline_mint_first_vs_anchor": ratio(figures["baseline_mint_first"], ANCHORS["mint_first"]),
        "baseline_mint_later_vs_anchor": ratio(figures["baseline_mint_later"], ANCHORS["mint_later"]),
        "transfer_new_vs_anchor": ratio(figures["transfer_new"], ANCHORS["transfer_new"]),
        "transfer_existing_vs_anchor": ratio(figures["transfer_existing"], ANCHORS["transfer_existing"]),
        "transfer_new_vs_baseline": ratio(figures["transfer_new"], figures["baseline_transfer_new"]),
        "transfer_existing_vs_baseline": ratio(figures["transfer_existing"], figures["baseline_transfer_existing"]),
        "transfer_new_oz_vs_baseline": ratio(figures["transfer_new_oz"], figures["baseline_transfer_new"]),
        "transfer_existing_oz_vs_baseline": ratio(figures["transfer_existing_oz"], figures["baseline_transfer_existing"]),
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
        ratios[f"sale_royalty_{scenario}_oz_vs_seaport"] = ratio(
            figures[f"exchange_sale_royalty_{scenario}_oz"], figures[f"seaport_sale_royalty_{scenario}"]
        )
    # Solady's build against OpenZeppelin's, scenario by scenario (below 1: Solady's is cheaper)
    solady_vs_oz = {
        name: ratio(figures[name], figures[name + "_oz"]) for name in list(figures) if name + "_oz" in figures
    }
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
    print(f"{'mint overhead over plain Solady':44s} {breakdown}")
    return {
        "bench": "gas",
        "evm": "eth-tester/py-evm (in-process)",
        "compiler": load_artifact("RareVector").compiler,
        "seaport": {"version": seaport.version, "compiler": seaport.compiler, "entry": "fulfillBasicOrder_efficient_6GL6yc"},
        "gas": figures,
        "anchors": ANCHORS,
        "ratios": ratios,
        "solady_vs_openzeppelin": solady_vs_oz,
        "mint_overhead": breakdown,
        "targets_met": targets,
        "seconds": round(time.perf_counter() - started, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
