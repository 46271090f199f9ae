"""A test-only browser wallet: an EIP-1193 provider injected into every page of a browser context, announced over
EIP-6963 and set as ``window.ethereum``, backed by a development key held here in Python (never in the page).

The page's ``provider.request({method, params})`` goes through a playwright binding to ``TestWallet.request``:
account and signing methods are answered here (``personal_sign`` and ``eth_signTypedData_v4`` signed with
eth_account; ``eth_sendTransaction`` filled, signed locally and sent as ``eth_sendRawTransaction``), everything else
is forwarded to the chain's JSON-RPC endpoint (the App's ``market.rpc_url``), as a real wallet does.

    wallet = TestWallet(key_for("alice"), gallery.app.market.rpc_url)
    wallet.install(context)          # before the context opens a page
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from web3 import HTTPProvider, Web3

BINDING = "__multiverseTestWallet"
RDNS = "test.multiverse.wallet"

# Runs in the page before its own scripts: the provider object, the EIP-6963 announcement, window.ethereum.
_INIT = """
(() => {
  const listeners = {};
  const provider = {
    isMultiverseTestWallet: true,
    async request({ method, params }) {
      const answer = await window.%(binding)s(method, params === undefined ? [] : params);
      if (answer.error) {
        const error = new Error(answer.error.message);
        error.code = answer.error.code;
        throw error;
      }
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') {
        for (const fn of listeners.connect || []) fn({ chainId: answer.chainId });
      }
      return answer.result;
    },
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); return provider; },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); return provider; },
  };
  const info = Object.freeze({
    uuid: '%(uuid)s', name: 'Multiverse test wallet', rdns: '%(rdns)s',
    icon: 'data:image/svg+xml,%%3Csvg xmlns=%%22http://www.w3.org/2000/svg%%22 viewBox=%%220 0 1 1%%22/%%3E',
  });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider',
    { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
  window.ethereum = provider;
})();
"""


class WalletError(Exception):
    """An EIP-1193 error (``code``: 4001 user rejected, 4100 unauthorized, 4200 unsupported, 4902 unknown chain)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class TestWallet:
    """The wallet of one development key on the chain at ``rpc_url``; ``calls`` lists every method the page asked.
    ``on_chain``: the chain id the wallet starts on (default: the node's); it moves to the node's chain when the page
    asks (wallet_switchEthereumChain) and refuses any other chain with 4902, as wallets do for unknown chains."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, key: str, rpc_url: str, on_chain: int | None = None) -> None:
        self.account = Account.from_key(key)
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.node_chain_id = int(self.w3.eth.chain_id)
        self.chain_id = self.node_chain_id if on_chain is None else on_chain
        self.calls: list[str] = []
        self.sent: list[str] = []  # transaction hashes

    @property
    def address(self) -> str:
        return self.account.address

    def install(self, context: Any, eip6963: bool = True) -> None:
        """Inject the provider into every page ``context`` (a playwright BrowserContext) opens from now on;
        ``eip6963=False``: a legacy wallet, only ``window.ethereum``, no announcement."""
        context.expose_binding(BINDING, lambda _source, method, params: self.answer(method, params))
        uuid = f"00000000-0000-4000-8000-{self.address[-12:].lower()}"
        script = _INIT % {"binding": BINDING, "uuid": uuid, "rdns": RDNS}
        if not eip6963:
            script = script.replace("window.addEventListener('eip6963:requestProvider', announce);\n  announce();", "")
        context.add_init_script(script)

    def answer(self, method: str, params: list[Any]) -> dict[str, Any]:
        """The binding's reply: {"result": ...} or {"error": {code, message}} (the page turns it into a throw)."""
        self.calls.append(method)
        try:
            return {"result": self.request(method, params or []), "chainId": hex(self.chain_id)}
        except WalletError as exc:
            return {"error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:  # noqa: BLE001  (a node error or a bad request: the page sees it as a wallet error)
            return {"error": {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}}

    def request(self, method: str, params: list[Any]) -> Any:
        if self.chain_id != self.node_chain_id and method in ("personal_sign", "eth_signTypedData_v4",
                                                             "eth_sendTransaction"):
            raise WalletError(4901, f"the wallet is on chain {self.chain_id}, not the node's {self.node_chain_id}")
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.address]
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "wallet_switchEthereumChain":
            if int(params[0]["chainId"], 16) != self.node_chain_id:
                raise WalletError(4902, f"unknown chain {params[0]['chainId']}")
            self.chain_id = self.node_chain_id
            return None
        if method == "personal_sign":
            message, address = params
            self._mine(address)
            signed = self.account.sign_message(encode_defunct(hexstr=message))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_signTypedData_v4":
            address, data = params
            self._mine(address)
            typed = json.loads(data) if isinstance(data, str) else data
            signed = self.account.sign_message(encode_typed_data(full_message=_ints(typed)))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_sendTransaction":
            return self._send(params[0])
        if method.startswith(("wallet_", "eth_sign")):
            raise WalletError(4200, f"{method} is not supported by the test wallet")
        response = self.w3.provider.make_request(method, params)
        if "error" in response:
            error = response["error"]
            raise WalletError(int(error.get("code", -32603)), str(error.get("message", error)))
        return response["result"]

    def _mine(self, address: str) -> None:
        if address.lower() != self.address.lower():
            raise WalletError(4100, f"{address} is not this wallet's account ({self.address})")

    def _send(self, request: dict[str, Any]) -> str:
        """Fill nonce, gas and fees as a wallet does, sign with the key, send raw; returns the hash."""
        self._mine(request.get("from", self.address))
        eth = self.w3.eth
        tx: dict[str, Any] = {
            "from": self.address,
            "to": Web3.to_checksum_address(request["to"]) if request.get("to") else None,
            "data": request.get("data") or request.get("input") or "0x",
            "value": int(request.get("value") or "0x0", 16),
            "chainId": self.chain_id,
            "nonce": eth.get_transaction_count(self.address, "pending"),
        }
        if tx["to"] is None:
            del tx["to"]
        tx["gas"] = int(request["gas"], 16) if request.get("gas") else eth.estimate_gas(tx) * 12 // 10
        base = eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            tx["gasPrice"] = eth.gas_price
        else:
            tip = eth.max_priority_fee
            tx["maxPriorityFeePerGas"], tx["maxFeePerGas"] = tip, 2 * base + tip
        del tx["from"]
        tx_hash = eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
        self.sent.append("0x" + bytes(tx_hash).hex())
        return self.sent[-1]


def _ints(typed: dict[str, Any]) -> dict[str, Any]:
    """Typed data with uint/int fields given as decimal or 0x strings (how wallets receive big numbers) as ints."""
    types = typed["types"]

    def convert(kind: str, value: Any) -> Any:
        if kind.endswith("]"):
            return [convert(kind[: kind.rindex("[")], v) for v in value]
        if kind in types:
            return {f["name"]: convert(f["type"], value[f["name"]]) for f in types[kind] if f["name"] in value}
        if kind.startswith(("uint", "int")) and isinstance(value, str):
            return int(value, 0)
        return value

    return {**typed, "domain": convert("EIP712Domain", typed["domain"]),
            "message": convert(typed["primaryType"], typed["message"])}
