"""Gas of RareVector and Exchange against an unmodified OpenZeppelin ERC-721 deployed in the same run.

Runs on the in-process EVM (eth-tester + py-evm), like the anchors in /work/shared/ANCHORS.md: whole-transaction
gas (21,000 base + calldata + execution - refunds). Token ids are sha256 digests for both tokens; every payee
(seller, royalty receiver, fee recipient) already holds ether, as paying an empty account costs 25,000 more.

Scenarios:
- mint first / later: to an address with no token / with one already;
- transfer new / existing holder: transferFrom by the owner to an address with no token / with one; RareVector's
  first move of a token also records its discoverer (one storage write per token lifetime), so both cases are
  given for a token's first move and for a token that moved before;
- sale no fee: a signed listing of a plain OZ ERC-721 token (no ERC-2981) filled on the Exchange: only the seller
  is paid; sale royalty: a RareVector token that moved before, royalty paid to its discoverer; also with a fee, and
  a discoverer's first sale (royalty merged into the proceeds, discoverer recorded).
  Sellers hold one token (their balance goes to zero), buyers none (new holder). Listings use salt 0, as the
  market's first listing of a seller does; also given: a seller's second sale (salt 1) and a salt >= 128.

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

    def wallet() -> LocalWallet:
        key = Account.create().key.hex()
        chain.fund(Account.from_key(key).address, 100 * ETHER)
        return LocalWallet(chain, key)

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
    for i in range(3, 10):
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

    # plain OZ token (no royalty): seller s1 holds one token, buyer is a new holder
    s1, s1b, b1 = wallet(), wallet(), wallet()
    for seller, label in ((s1, "base-sale"), (s1b, "base-sale-2")):
        deployer.transact("mint", base.functions.mint(seller.address, _id(label)))
        seller.transact("approve", base.functions.setApprovalForAll(exchange.address, True))
    figures["sale_no_fee"] = sell(s1, b1, base.address, _id("base-sale"))
    # the same, to a buyer who already holds a token of that contract (b1, just now)
    figures["sale_no_fee_existing_holder"] = sell(s1b, b1, base.address, _id("base-sale-2"))

    # a seller's second sale (salt 1; the first used salt 0): the seller's word is non-zero by then
    s5, b5, b6 = wallet(), wallet(), wallet()
    for label in ("base-sale-3", "base-sale-4"):
        deployer.transact("mint", base.functions.mint(s5.address, _id(label)))
    s5.transact("approve", base.functions.setApprovalForAll(exchange.address, True))
    sell(s5, b5, base.address, _id("base-sale-3"))
    figures["sale_no_fee_repeat_seller"] = sell(s5, b6, base.address, _id("base-sale-4"), salt=1)
    # a salt from 128 up (a per-seller bitmap word apart from the counter)
    s6, b7 = wallet(), wallet()
    deployer.transact("mint", base.functions.mint(s6.address, _id("base-sale-5")))
    s6.transact("approve", base.functions.setApprovalForAll(exchange.address, True))
    figures["sale_no_fee_high_salt"] = sell(s6, b7, base.address, _id("base-sale-5"), salt=1000)

    # RareVector: rare-6..8 were minted to a (their discoverer) and move to sellers first
    s2, s3, s4, b2, b3 = wallet(), wallet(), wallet(), wallet(), wallet()
    for seller, i in ((s2, 6), (s3, 7), (s4, 8)):
        a.transact("t", t.transferFrom(a.address, seller.address, _id(f"rare-{i}")))
        seller.transact("approve", t.setApprovalForAll(exchange.address, True))
    figures["sale_royalty"] = sell(s2, b2, token.address, _id("rare-6"))
    figures["sale_royalty_fee"] = sell(s3, b3, token.address, _id("rare-7"), fee=PRICE // 50)
    figures["sale_royalty_existing_holder"] = sell(s4, b2, token.address, _id("rare-8"))

    # a discoverer's first sale: royalty goes to the seller (merged), the discoverer is recorded
    disc, b4 = wallet(), wallet()
    chain.mint(disc.address, f"{_id('rare-first-sale'):064x}", prov)
    disc.transact("approve", t.setApprovalForAll(exchange.address, True))
    figures["sale_first_by_discoverer"] = sell(disc, b4, token.address, _id("rare-first-sale"))

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
        "sale_no_fee_vs_anchor": ratio(figures["sale_no_fee"], ANCHORS["sale_no_fee"]),
        "sale_royalty_vs_anchor": ratio(figures["sale_royalty"], ANCHORS["sale_royalty"]),
    }
    targets = {
        "mint_within_3pct_of_baseline": ratios["mint_first_vs_baseline"] <= MINT_TARGET
        and ratios["mint_later_vs_baseline"] <= MINT_TARGET,
        "sale_no_fee_at_most_anchor": figures["sale_no_fee"] <= ANCHORS["sale_no_fee"],
        "sale_royalty_at_most_anchor": figures["sale_royalty"] <= ANCHORS["sale_royalty"],
    }
    for name, value in figures.items():
        print(f"{name:32s} {value:>9,d}")
    print(f"{'mint overhead over baseline':32s} {breakdown}")
    return {
        "bench": "gas",
        "evm": "eth-tester/py-evm (in-process)",
        "compiler": load_artifact("RareVector").compiler,
        "gas": figures,
        "anchors": ANCHORS,
        "ratios": ratios,
        "mint_overhead": breakdown,
        "targets_met": targets,
        "seconds": round(time.perf_counter() - started, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
