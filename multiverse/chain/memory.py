"""The in-process EVM adapter: eth-tester with py-evm, contracts deployed at start-up.

This is the embedded default (``make run``). ``provider`` is the seam for serving this EVM as JSON-RPC to
browser wallets: hand it each request with ``provider.make_request(method, params)``.
"""

from __future__ import annotations

from eth_account import Account

from multiverse.errors import InvalidArgument

from ._web3chain import Web3Chain, _address
from .base import DeployOptions
from .config import ChainConfig, Secret

ETHER = 10**18
MINTER_FUNDING = 10_000 * ETHER  # of the dev accounts' 1,000,000 ether each


class InProcessChain(Web3Chain):
    def __init__(self, config: ChainConfig | None = None) -> None:
        config = config or ChainConfig()
        try:
            from web3 import EthereumTesterProvider, Web3
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise InvalidArgument(
                "chain.kind", "memory", 'install the in-process EVM: pip install "eth-tester==0.13.0b1" "py-evm==0.12.1b1"'
            ) from exc
        self._provider = EthereumTesterProvider()
        key = config.minter_key or Secret(Account.create().key.hex())
        super().__init__(
            Web3(self._provider),
            key,
            where="in-process EVM",
            timeout_s=config.timeout_s,
            artifacts_dir=config.artifacts_dir,
            expected_chain_id=config.chain_id,
        )
        self.fund(self.minter, MINTER_FUNDING)
        if config.token and config.exchange:
            from .base import Contracts

            self.attach(Contracts(self.chain_id(), config.token, config.exchange, config.from_block))
        else:
            self.deploy(DeployOptions(config.royalty_bps, config.base_uri, config.contract_uri, config.admin))

    @property
    def provider(self):
        """The EIP-1193-like provider of this EVM (``make_request(method, params)``)."""
        return self._provider

    @property
    def dev_accounts(self) -> list[str]:
        """The in-process EVM's unlocked, pre-funded accounts."""
        return list(self._read("list dev accounts", lambda: self._w3.eth.accounts))

    def fund(self, address: str, wei: int) -> None:
        """Send ``wei`` from the first dev account to ``address`` (a faucet for local wallets and tests)."""
        to = _address("address", address)
        source = self.dev_accounts[0]

        def send() -> None:
            tx_hash = self._w3.eth.send_transaction({"from": source, "to": to, "value": wei})
            self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout_s, poll_latency=0.01)

        self._read(f"fund {to}", send)
