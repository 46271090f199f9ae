"""A wallet holding a local key, for scripts, benchmarks and tests. The services never hold a user's key: users
sign listings and send purchases from their own wallets; this plays that part where no browser is involved."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from ._web3chain import Web3Chain
from .config import Secret
from .listing import Listing, sign_listing


class LocalWallet:
    def __init__(self, chain: Web3Chain, key: Secret | str) -> None:
        self._chain = chain
        self._key = key if isinstance(key, Secret) else Secret(key)
        self._account = Account.from_key(self._key.reveal())

    @property
    def address(self) -> str:
        return self._account.address

    def transact(self, what: str, call: Any, value: int = 0) -> Any:
        """Send contract call ``call`` (e.g. ``token.functions.approve(...)``) from this wallet; returns the
        receipt. Reverts raise ``multiverse.errors`` as the chain's own writes do."""
        return self._chain._send(what, lambda: call, value=value, account=self._account)

    def sign(self, listing: Listing) -> bytes:
        """Sign ``listing`` for the chain's exchange."""
        contracts = self._chain.contracts
        return sign_listing(listing, self._key, contracts.chain_id, contracts.exchange)

    def __repr__(self) -> str:
        return f"LocalWallet({self.address})"
