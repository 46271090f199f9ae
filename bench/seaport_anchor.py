"""Seaport 1.6, unmodified (contracts/build_anchors.js), as the sale anchor of bench/gas_bench.py.

Deploys ConduitController and Seaport on the bench's chain, and fills a signed ERC-721 listing for ETH through
Seaport's basic-order path: the seller signs OrderComponents (offer: the token; consideration: the seller's ETH
and, for a royalty, one more ETH item to its receiver), approves Seaport itself (no conduit) and the buyer calls
``fulfillBasicOrder_efficient_6GL6yc`` (Seaport's cheapest entry point; ``fulfillBasicOrder`` is the same path
behind a costlier selector). The order hash comes from Seaport's own ``getOrderHash``, signed as
keccak256(0x1901 || Seaport's domain separator || hash), so the bench does not re-implement Seaport's EIP-712.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils import keccak

from multiverse.chain.artifacts import DEFAULT_ARTIFACTS, load_artifact

ANCHORS_DIR = DEFAULT_ARTIFACTS / "anchors"
ZERO = "0x" + "00" * 20
NATIVE, ERC721 = 0, 2
ETH_TO_ERC721_FULL_OPEN = 0
EXPIRY = 2**40


class Seaport:
    def __init__(self, w3: Any, deploy: Any) -> None:
        """``deploy(what, constructor_call) -> receipt`` sends a deployment from a funded account."""
        self.w3 = w3
        cc = load_artifact("ConduitController", ANCHORS_DIR)
        receipt = deploy("deploy ConduitController", w3.eth.contract(abi=cc.abi, bytecode=cc.bytecode).constructor())
        art = load_artifact("Seaport", ANCHORS_DIR)
        receipt = deploy("deploy Seaport",
                         w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(receipt["contractAddress"]))
        self.contract = w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)
        self.address = self.contract.address
        self.version, self.domain_separator, _ = self.contract.functions.information().call()
        self.compiler = art.compiler

    def signed_order(self, seller_key: str, token: str, token_id: int, proceeds: int,
                     royalty_to: str | None = None, royalty: int = 0, salt: int = 0, basic: bool = True
                     ) -> tuple[tuple, int]:
        """(BasicOrderParameters as a tuple, wei the buyer sends) for the seller's listing of ``token_id``; with
        ``basic=False`` the same order as an Order (OrderParameters, signature) for ``fulfillOrder``."""
        seller = Account.from_key(seller_key)
        extra = [(royalty, royalty_to)] if royalty else []
        consideration = [(NATIVE, ZERO, 0, proceeds, proceeds, seller.address)]
        consideration += [(NATIVE, ZERO, 0, amount, amount, to) for amount, to in extra]
        counter = self.contract.functions.getCounter(seller.address).call()
        components = (seller.address, ZERO, [(ERC721, token, token_id, 1, 1)], consideration,
                      0, 0, EXPIRY, b"\0" * 32, salt, b"\0" * 32, counter)
        order_hash = self.contract.functions.getOrderHash(components).call()
        digest = keccak(b"\x19\x01" + self.domain_separator + order_hash)
        signed = Account.unsafe_sign_hash(digest, seller_key)
        signature = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
        if not basic:
            return (components[:10] + (len(consideration),), signature), proceeds + royalty
        params = (ZERO, 0, proceeds, seller.address, ZERO, token, token_id, 1, ETH_TO_ERC721_FULL_OPEN,
                  0, EXPIRY, b"\0" * 32, salt, b"\0" * 32, b"\0" * 32, len(extra), extra, signature)
        return params, proceeds + royalty

    def fill(self, buyer: Any, params: tuple, value: int, efficient: bool = True, basic: bool = True) -> Any:
        """Fill the order from ``buyer`` (a LocalWallet); returns the receipt. ``basic=False``: ``fulfillOrder``
        (Seaport's general path) with an Order from ``signed_order(..., basic=False)``."""
        f = self.contract.functions
        if not basic:
            return buyer.transact("seaport fill", f.fulfillOrder(params, b"\0" * 32), value=value)
        call = f.fulfillBasicOrder_efficient_6GL6yc(params) if efficient else f.fulfillBasicOrder(params)
        return buyer.transact("seaport fill", call, value=value)
