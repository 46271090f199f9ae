"""A user's wallet on the market's chain over JSON-RPC, for the client and the CLI: approve the exchange, buy a
signed listing, and (on a development chain only) take ether from the node's unlocked dev account.

The key signs locally; the node sees signed transactions only. Errors are ``multiverse.errors`` naming the
contract error (e.g. ``ListingUsed(...)``), never the key."""

from __future__ import annotations

from typing import Any, Self

from multiverse.errors import FailedPrecondition

from .config import ChainConfig, minter_key
from .listing import Listing
from .rpc import RpcChain
from .values import _address
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
        """Send ``wei`` from the node's first unlocked account (the in-process EVM's, or anvil's) to ``to`` (this
        wallet by default); returns the transaction hash. Real networks have no such account."""
        target = _address("to", to or self.address)
        w3 = self.chain.web3

        def send() -> str:
            accounts = w3.eth.accounts
            if not accounts:
                raise FailedPrecondition(
                    f"the node at {self.chain.describe()} has no unlocked dev account: fund {target} from a wallet that holds ether"
                )
            tx = w3.eth.send_transaction({"from": accounts[0], "to": target, "value": wei})
            w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)
            return "0x" + bytes(tx).hex()

        return self.chain._read(f"fund {target}", send)

    def close(self) -> None:
        self.chain.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Trader({self.address} on {self.chain.describe()})"
