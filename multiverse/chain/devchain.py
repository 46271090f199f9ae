"""Development chains: the in-process EVM and a local anvil (or hardhat) node, known by their chain ids.

Their first pre-funded account has a private key that everyone knows (eth-tester's is 1; anvil's comes from the
"test test ... junk" mnemonic), so ether can be sent from it as a signed transaction: the wallet port needs no
unlocked account for that. On any other chain those keys mean nothing, and the demo, which mints tokens and
spends the minter's ether, refuses to run.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account

from multiverse.errors import FailedPrecondition, InvalidArgument

from .values import _address

IN_PROCESS_CHAIN_ID = 131277322940537  # eth-tester's py-evm backend (the in-process EVM)
ANVIL_CHAIN_ID = 31337  # anvil's and hardhat's default
# chain id -> (what it is, the well-known key of its first pre-funded account)
DEV_CHAINS: dict[int, tuple[str, str]] = {
    IN_PROCESS_CHAIN_ID: ("the in-process EVM", "0x" + "00" * 31 + "01"),
    ANVIL_CHAIN_ID: ("anvil or hardhat", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
}


def is_dev_chain(chain_id: int) -> bool:
    """Whether ``chain_id`` is a development chain's (the in-process EVM's or anvil's default)."""
    return int(chain_id) in DEV_CHAINS


def require_dev_chain(chain_id: int, what: str) -> None:
    """Raise FailedPrecondition naming ``chain_id`` unless it is a development chain; ``what`` is refused."""
    if not is_dev_chain(chain_id):
        known = ", ".join(f"{cid} ({name})" for cid, (name, _) in DEV_CHAINS.items())
        raise FailedPrecondition(
            f"chain {chain_id} is not a development chain, so {what} is refused: it runs only on {known}. "
            "Run it on the in-process EVM (`multiverse up` without MULTIVERSE_CHAIN_RPC_URL) or on a local anvil "
            "started with its default chain id",
            chain_id=int(chain_id),
        )


def dev_key(chain_id: int, what: str) -> str:
    """The well-known key of the development chain ``chain_id``'s first funded account (refused elsewhere)."""
    require_dev_chain(chain_id, what)
    return DEV_CHAINS[int(chain_id)][1]


def fund_from_dev_key(chain: Any, to: str, wei: int) -> str:
    """Send ``wei`` to ``to`` from the development chain's well-known funded key, as a locally signed transaction
    through ``chain`` (a Web3Chain); returns the transaction hash. FailedPrecondition on any other chain."""
    target = _address("to", to)
    if isinstance(wei, bool) or not isinstance(wei, int) or not 0 <= wei < 2**256:
        raise InvalidArgument("wei", wei, "give a whole, non-negative number of wei")
    chain_id = chain.chain_id()
    account = Account.from_key(dev_key(chain_id, f"funding {target} from a development key"))
    w3 = chain.web3

    def send() -> str:
        tip = int(w3.eth.max_priority_fee)
        base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "to": target,
            "value": wei,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base + tip,
        }
        tx["gas"] = w3.eth.estimate_gas({"from": account.address, "to": target, "value": wei})
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        if receipt["status"] != 1:
            raise FailedPrecondition(f"funding {target}: transaction {tx_hash.to_0x_hex()} reverted")
        return tx_hash.to_0x_hex()

    return chain._read(f"fund {target} from the development key", send)
