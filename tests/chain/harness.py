"""A chain with the contracts deployed and funded test wallets, the same for the in-process EVM and anvil.

``start_anvil`` runs the anvil binary that npm installs under contracts/node_modules on a free port."""

from __future__ import annotations

import platform
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak

from multiverse.chain import ChainConfig, Listing, Provenance, token_id_for
from multiverse.chain._web3chain import Web3Chain
from multiverse.chain.artifacts import CONTRACTS_DIR, load_artifact
from multiverse.chain.memory import InProcessChain
from multiverse.chain.rpc import RpcChain
from multiverse.chain.wallet import LocalWallet

ETHER = 10**18
ROYALTY_BPS = 500
BASE_URI = "https://gallery.test/token/"
CONTRACT_URI = "https://gallery.test/collection.json"
FAR_FUTURE = 2**40
ZERO = "0x" + "00" * 20
PROVENANCE = Provenance("tileworld-v1", "5e" * 32, 7, 999_000)
_ANVIL_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}


def key_for(name: str) -> str:
    """A fixed test private key per name (never a real one)."""
    return "0x" + keccak(text=f"multiverse chain test {name}").hex()


def anvil_binary() -> Path | None:
    """The anvil executable that @foundry-rs/anvil installs for this platform, if present."""
    package = _ANVIL_PACKAGES.get((platform.system(), platform.machine()))
    if package is None:
        return None
    binary = CONTRACTS_DIR / "node_modules" / "@foundry-rs" / package / "bin" / "anvil"
    return binary if binary.is_file() else None


@contextmanager
def start_anvil(binary: Path, workdir: Path, timeout_s: float = 20.0) -> Iterator[str]:
    """Run anvil on a free port (it picks one: --port 0); yields its URL; kills it on exit."""
    log = workdir / "anvil.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            found = re.search(r"Listening on (\S+)", log.read_text(errors="replace"))
            if found:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not start (exit {proc.poll()}):\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield f"http://{found.group(1)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Net:
    """One chain with the contracts and wallets; ``name`` is "memory" or "anvil"."""

    name: str
    chain: Web3Chain
    wallets: dict[str, LocalWallet] = field(default_factory=dict)

    @property
    def w3(self):
        return self.chain.web3

    @property
    def token(self):
        return self.chain.token_contract

    @property
    def exchange(self):
        return self.chain.exchange_contract

    def __getattr__(self, name: str) -> LocalWallet:  # net.alice, net.bob, ...
        wallets = self.__dict__.get("wallets", {})
        if name in wallets:
            return wallets[name]
        raise AttributeError(name)

    def fund(self, address: str, wei: int = 100 * ETHER) -> None:
        tx = self.w3.eth.send_transaction({"from": self.w3.eth.accounts[0], "to": address, "value": wei})
        self.w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.01)

    def new_wallet(self, name: str) -> LocalWallet:
        """A funded wallet for ``name`` (funded again on every call: tests revert the chain afterwards)."""
        key = key_for(name)
        self.fund(Account.from_key(key).address)
        return LocalWallet(self.chain, key)

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(address)

    def snapshot(self) -> Any:
        return self.w3.provider.make_request("evm_snapshot", [])["result"]

    def revert(self, snapshot_id: Any) -> None:
        response = self.w3.provider.make_request("evm_revert", [snapshot_id])
        assert "error" not in response, response

    def mint(self, to: LocalWallet | str, label: str) -> int:
        """Mint the vector whose canonical bytes are ``label`` to ``to``; returns the token id as an int."""
        address = to if isinstance(to, str) else to.address
        minted = self.chain.mint(address, token_id_for(label.encode()), PROVENANCE)
        return int(minted.token_id, 16)

    def approve_exchange(self, owner: LocalWallet) -> None:
        owner.transact("approve the exchange", self.token.functions.setApprovalForAll(self.exchange.address, True))

    def listing(self, seller: LocalWallet | str, token_id: int, price: int, **fields: Any) -> Listing:
        address = seller if isinstance(seller, str) else seller.address
        fields.setdefault("counter", self.chain.counter_of(address))
        fields.setdefault("expiry", FAR_FUTURE)
        token = fields.pop("token", self.token.address)
        if "token_nonce" not in fields:  # RareVector keeps one; other tokens count as 0
            fields["token_nonce"] = self.chain.token_nonce(f"{token_id:064x}") if token == self.token.address else 0
        return Listing(seller=address, token=token, token_id=token_id, price=price, **fields)

    def buy(self, buyer: LocalWallet, listing: Listing, signature: bytes, max_price: int | None = None, value: int | None = None):
        call = self.exchange.functions.buy(listing.as_tuple(), signature, listing.price if max_price is None else max_price)
        return buyer.transact("buy", call, value=listing.price if value is None else value)

    def deploy(self, name: str, *args: Any, by: LocalWallet | None = None):
        """Deploy artifact ``name`` (e.g. WalletMock) from ``by`` (the admin by default)."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = (by or self.admin).transact(f"deploy {name}", factory.constructor(*args))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def admin_address() -> str:
    """The token admin of the test chains: a key of its own, not the minter's."""
    return Account.from_key(key_for("admin")).address


def memory_net() -> Net:
    key = key_for("minter")
    chain = InProcessChain(
        ChainConfig(
            kind="memory",
            minter_key=key,
            royalty_bps=ROYALTY_BPS,
            base_uri=BASE_URI,
            contract_uri=CONTRACT_URI,
            admin=admin_address(),
        )
    )
    return _with_wallets(Net("memory", chain), key)


def rpc_net(url: str) -> Net:
    key = key_for("minter")
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(url))
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": Account.from_key(key).address, "value": 1000 * ETHER})
    )
    chain = RpcChain(
        ChainConfig(
            kind="rpc",
            rpc_url=url,
            minter_key=key,
            royalty_bps=ROYALTY_BPS,
            base_uri=BASE_URI,
            contract_uri=CONTRACT_URI,
            admin=admin_address(),
        )
    )
    return _with_wallets(Net("anvil", chain), key)


def _with_wallets(net: Net, minter_key: str) -> Net:
    net.wallets["minter"] = LocalWallet(net.chain, minter_key)
    for name in ("admin", "alice", "bob", "carol", "dave", "fees"):
        net.wallets[name] = net.new_wallet(name)
    return net
