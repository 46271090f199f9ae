"""A user's wallet on the market's chain over JSON-RPC, for the client and the CLI: approve the exchange, buy a
signed listing, and (on a development chain only) take ether from its well-known funded key.

The key signs locally; the node sees signed transactions only. Errors are ``multiverse.errors`` naming the
contract error (e.g. ``ListingUsed(...)``), never the key."""

from __future__ import annotations

from typing import Any, Self

from .config import ChainConfig, minter_key
from .devchain import fund_from_dev_key
from .listing import Listing
from .rpc import RpcChain
from .wallet import LocalWallet


class Trader:
    def __init__(
        self,
        rpc_url: str,
        key: str,
        *,
        chain_id: int,
        token: str,
        exchange: str,
        from_block: int = 0,
        timeout_s: float = 30.0,
    ) -> None:
        secret = minter_key(key)  # validated without echoing it
        # The port's RPC adapter signs with the configured key; here that key is the user's, not the minter's.
        self.chain = RpcChain(
            ChainConfig(
                kind="rpc",
                rpc_url=rpc_url,
                minter_key=secret,
                chain_id=chain_id,
                token=token,
                exchange=exchange,
                from_block=from_block,
                timeout_s=timeout_s,
            )
        )
        self.wallet = LocalWallet(self.chain, secret)

    @property
    def address(self) -> str:
        return self.wallet.address

    def balance(self) -> int:
        return int(self.chain._read("read a balance", lambda: self.chain.web3.eth.get_balance(self.address)))

    def approve_exchange(self) -> bool:
        """Let the exchange move this wallet's tokens (setApprovalForAll); False when it could already."""
        exchange = self.chain.contracts.exchange
        if self.chain.is_approved_for_all(self.address, exchange):
            return False
        self.wallet.transact(
            "approve the exchange", self.chain.token_contract.functions.setApprovalForAll(exchange, True)
        )
        return True

    def buy(self, listing: Listing, signature: bytes, max_price: int) -> Any:
        """Fill ``listing`` for ``listing.price`` wei, refusing (on the chain) to pay more than ``max_price``."""
        call = self.chain.exchange_contract.functions.buy(listing.as_tuple(), bytes(signature), max_price)
        return self.wallet.transact(f"buy token {listing.token_id:064x}", call, value=listing.price)

    def fund_from_dev_account(self, wei: int, to: str | None = None) -> str:
        """Send ``wei`` to ``to`` (this wallet by default) from the development chain's well-known funded key (the
        in-process EVM's or anvil's, see devchain), as a signed transaction; returns its hash. Refused on any other
        chain: real networks have no such key."""
        return fund_from_dev_key(self.chain, to or self.address, wei)

    def close(self) -> None:
        self.chain.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Trader({self.address} on {self.chain.describe()})"
