"""The in-process EVM adapter: eth-tester with py-evm, contracts deployed at start-up.

This is the embedded default (``make run``). With ``config.data_dir`` the chain is durable (durable.py): kept in
``data_dir``/chain.sqlite with the minter key (``minter.key``, mode 0600, unless configured), the token admin's key
(``token-admin.key``, made when no ``admin`` address is configured: the minter never holds the admin role) and the
contract addresses (``contracts.json``), so a restart continues the same chain with the same contracts; without it
the chain lives in memory and is gone at exit (tests, benchmarks; the admin key made then is not kept). ``provider`` is the seam for serving this EVM as
JSON-RPC to browser wallets: hand it each request with ``provider.make_request(method, params)``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eth_account import Account

from multiverse.errors import FailedPrecondition, InvalidArgument

from ._web3chain import Web3Chain, _address
from .base import Contracts, DeployOptions
from .config import ChainConfig, Secret, minter_key

ETHER = 10**18
MINTER_FUNDING = 10_000 * ETHER  # of the dev accounts' 1,000,000 ether each
KEY_FILE, ADMIN_KEY_FILE, CONTRACTS_FILE = "minter.key", "token-admin.key", "contracts.json"
BASE_URI_FILE = "base-uri.txt"  # the token's base URI as last set from here (at deploy or by _align_base_uri)
ADMIN_GAS = ETHER  # what the token admin is given to pay for setBaseURI
DEFAULT_ADMIN_ROLE = b"\0" * 32
log = logging.getLogger("multiverse.chain")


class InProcessChain(Web3Chain):
    def __init__(self, config: ChainConfig | None = None) -> None:
        config = config or ChainConfig()
        try:
            from eth_tester import EthereumTester
            from web3 import EthereumTesterProvider, Web3
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise InvalidArgument(
                "chain.kind",
                "memory",
                'install the in-process EVM: pip install "eth-tester==0.13.0b1" "py-evm==0.12.1b1"',
            ) from exc
        self._backend: Any = None
        directory = Path(config.data_dir) if config.data_dir is not None else None
        if directory is not None:
            from .durable import DurableBackend

            self._backend = DurableBackend(directory)
            self._provider = EthereumTesterProvider(EthereumTester(backend=self._backend))
            key = config.minter_key or _stored_key(directory / KEY_FILE)
        else:
            self._provider = EthereumTesterProvider()
            key = config.minter_key or Secret(Account.create().key.hex())
        try:
            super().__init__(
                Web3(self._provider),
                key,
                where="in-process EVM" + (f" in {directory}" if directory is not None else ""),
                timeout_s=config.timeout_s,
                artifacts_dir=config.artifacts_dir,
                expected_chain_id=config.chain_id,
            )
            if (
                self._read("read the minter's balance", lambda: self._w3.eth.get_balance(self.minter))
                < MINTER_FUNDING // 2
            ):
                self.fund(self.minter, MINTER_FUNDING)
            if config.token and config.exchange:
                self.attach(Contracts(self.chain_id(), config.token, config.exchange, config.from_block))
                self._align_base_uri(config, directory)
            elif directory is not None and (directory / CONTRACTS_FILE).exists():
                self._reattach(directory)
                self._align_base_uri(config, directory)
            else:
                # (a stored chain without a contracts record: a deployment that never finished; deploy again)
                admin = config.admin or _admin_address(directory)
                contracts = self.deploy(DeployOptions(config.royalty_bps, config.base_uri, config.contract_uri, admin))
                if directory is not None:
                    _write_atomically(directory / BASE_URI_FILE, config.base_uri)
                    _write_atomically(
                        directory / CONTRACTS_FILE, json.dumps(asdict(contracts), indent=2) + "\n"
                    )
        except BaseException:
            if self._backend is not None:
                self._backend.close()
            raise

    def _reattach(self, directory: Path) -> None:
        path = directory / CONTRACTS_FILE
        if self._backend.created:
            raise FailedPrecondition(
                f"{path} names contracts of an earlier chain but {directory / 'chain.sqlite'} was just created empty: "
                f"restore chain.sqlite from a backup, or move {directory} aside to start a new chain (its tokens are then gone)"
            )
        try:
            contracts = Contracts(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise FailedPrecondition(f"{path} cannot be read ({exc}): restore it from a backup") from None
        self.attach(contracts)
        token = self.token_contract
        role = self._read("read the minter role", lambda: token.functions.MINTER_ROLE().call())
        if not self._read("check the minter role", lambda: token.functions.hasRole(role, self.minter).call()):
            raise FailedPrecondition(
                f"the configured minter {self.minter} holds no MINTER_ROLE on token {contracts.token} of the chain in "
                f"{directory}: configure the key that deployed it (kept in {directory / KEY_FILE} when none was configured)"
            )

    def _align_base_uri(self, config: ChainConfig, directory: Path | None) -> None:
        """Set the token's base URI to ``config.base_uri`` when it is given and differs from the one last set from
        here (a kept chain reopened behind a gateway on another address), as the token admin whose key this chain
        keeps (token-admin.key); an admin configured by address only is told to do it (logged), the start goes on."""
        if not config.base_uri or directory is None:
            return
        path = directory / BASE_URI_FILE
        if path.exists() and path.read_text() == config.base_uri:
            return
        key_file = directory / ADMIN_KEY_FILE
        token = self.token_contract
        admin = Account.from_key(_stored_key(key_file, "chain.admin").reveal()).address if key_file.exists() else None
        if admin is None or not self._read(
            "check the token admin", lambda: token.functions.hasRole(DEFAULT_ADMIN_ROLE, admin).call()
        ):
            log.warning("the token's base URI may not be %s: its admin (not a key kept in %s) must call "
                        "setBaseURI(%r) on %s", config.base_uri, directory, config.base_uri, token.address)
            return
        if self._read("read the admin's balance", lambda: self._w3.eth.get_balance(admin)) < ADMIN_GAS // 2:
            self.fund(admin, ADMIN_GAS)
        self.set_base_uri(config.base_uri, _stored_key(key_file, "chain.admin"))
        _write_atomically(path, config.base_uri)
        log.info("the token's base URI is now %s", config.base_uri)

    def set_base_uri(self, uri: str, admin_key: Secret) -> None:
        """Point every token's metadata at ``uri`` (tokenURI(id) = uri + 0x + hex id), signed by the token's admin
        (``admin_key``); the token emits ERC-4906's BatchMetadataUpdate so that marketplaces read it again."""
        if not isinstance(uri, str) or len(uri) > 2048:
            raise InvalidArgument("base_uri", uri, "give the gateway's token URL, e.g. https://gallery.example/token/")
        token, admin = self.token_contract, Account.from_key(admin_key.reveal())
        self._send("set the token's base URI", lambda: token.functions.setBaseURI(uri), account=admin)

    @property
    def provider(self):
        """The EIP-1193-like provider of this EVM (``make_request(method, params)``)."""
        return self._provider

    @property
    def durable(self) -> bool:
        return self._backend is not None

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

    def close(self) -> None:
        """Closes the durable chain's file (every mined block is on disk already)."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None


def _admin_address(directory: Path | None) -> str:
    """The address of the token admin's key: kept in ``directory`` (made on first use), or a throwaway one."""
    if directory is None:
        return Account.create().address
    key = _stored_key(directory / ADMIN_KEY_FILE, "chain.admin (an address)")
    return Account.from_key(key.reveal()).address


def _stored_key(path: Path, setting: str = "chain.minter_key") -> Secret:
    """The private key kept in ``path`` (made, mode 0600, on first use); never printed."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(Account.create().key.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
    try:
        return minter_key(path.read_text().strip())
    except InvalidArgument:
        raise FailedPrecondition(
            f"{path} does not hold a private key: restore it, or configure {setting}"
        ) from None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:  # the chain's files: 0600
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
