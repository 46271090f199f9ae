"""The chain port over a web3.py client. Both adapters are this class with a different provider."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from multiverse.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

from ._boundary import RevertDecoder, translate
from .artifacts import load_artifact
from .base import (
    PROVENANCE_EVENT,
    RARITY_SCALE,
    BlockRef,
    ChainEvent,
    Contracts,
    DeployOptions,
    Minted,
    Provenance,
    TokenInfo,
)
from .config import Secret
from .provenance import require_commitment
from .listing import DOMAIN_NAME, DOMAIN_VERSION, ERC1271_MAGIC, erc1271_accepts, recover_signer
from .values import _address, _admin, _bytes32, _hex, _id_hex, _plain, _signature, _space, _token_id
from .values import encode_abi_words

T = TypeVar("T")
ERC721_INTERFACE = bytes.fromhex("80ac58cd")
ERC2981_INTERFACE = bytes.fromhex("2a55205a")
ZERO_ADDRESS = "0x" + "00" * 20


class Web3Chain:
    """Implements ``multiverse.chain.base.Chain``. Calls are serialised by one lock: the minter's nonces must be,
    and the in-process EVM is not thread-safe."""

    def __init__(
        self,
        w3: Web3,
        key: Secret,
        *,
        where: str,
        timeout_s: float,
        artifacts_dir: Path,
        expected_chain_id: int | None = None,
    ) -> None:
        self._w3 = w3
        self._account = Account.from_key(key.reveal())
        self._where = where
        self._timeout_s = timeout_s
        self._lock = threading.RLock()
        self._artifacts = {name: load_artifact(name, Path(artifacts_dir)) for name in ("RareVector", "Exchange")}
        self._decoder = RevertDecoder(a.abi for a in self._artifacts.values())
        self._contracts: Contracts | None = None
        self._token: Contract | None = None
        self._exchange: Contract | None = None
        self._events: dict[bytes, tuple[str, Any]] = {}
        self._royalty_bps: int | None = None
        self._chain_id = self._read("read the chain id", lambda: int(w3.eth.chain_id))
        if expected_chain_id is not None and expected_chain_id != self._chain_id:
            raise FailedPrecondition(
                f"the node at {where} serves chain {self._chain_id} but the configuration expects "
                f"{expected_chain_id}: point chain.rpc_url at the right network or fix chain.chain_id"
            )

    # -- the port --------------------------------------------------------------------------------------------

    @property
    def web3(self) -> Web3:
        """The web3 client (for the wallet-facing JSON-RPC endpoint, sign-in checks and tests)."""
        return self._w3

    @property
    def token_contract(self) -> Contract:
        """The web3 RareVector contract object (for wallets, scripts and tests)."""
        return self._require(self._token)

    @property
    def exchange_contract(self) -> Contract:
        """The web3 Exchange contract object (for wallets, scripts and tests)."""
        return self._require(self._exchange)

    @property
    def contracts(self) -> Contracts:
        if self._contracts is None:
            raise FailedPrecondition("no contracts attached: call deploy() or attach() first")
        return self._contracts

    @property
    def minter(self) -> str:
        return self._account.address

    def chain_id(self) -> int:
        return self._chain_id

    def block_number(self) -> int:
        return self._read("read the block number", lambda: int(self._w3.eth.block_number))

    def block_hash(self, number: int) -> str:
        if not isinstance(number, int) or number < 0:
            raise InvalidArgument("number", number, "give a block number >= 0")
        head = self.block_number()
        if number > head:
            raise NotFound(f"block {number} is past the head {head}", block=number)
        return self._read(f"read block {number}", lambda: _hex(self._w3.eth.get_block(number)["hash"]))

    def block(self, number: int) -> BlockRef:
        if not isinstance(number, int) or number < 0:
            raise InvalidArgument("number", number, "give a block number >= 0")
        got = self._read(f"read block {number}", lambda: self._w3.eth.get_block(number))
        if got is None:
            raise NotFound(f"block {number} is past the head", block=number)
        return BlockRef(number, _hex(got["hash"]), _hex(got["parentHash"]))

    def block_logs(self, block: BlockRef) -> list[ChainEvent]:
        # By number, not by blockHash: eth-tester does not take blockHash filters. A caller compares each event's
        # block_hash with block.hash: a difference means the block was replaced in between.
        return self.get_logs(block.number, block.number)

    def is_valid_signature(self, signer: str, digest: bytes, signature: bytes) -> bool:
        address = _address("signer", signer)
        if len(digest) != 32:
            raise InvalidArgument("digest", digest.hex(), "give a 32-byte digest")
        # As the exchange checks it (OpenZeppelin SignatureChecker): ECDSA with low s for an account without code,
        # else ERC-1271 asked by the exchange itself, whose answer must be exactly the magic word.
        code = self._read(f"read the code of {address}", lambda: self._w3.eth.get_code(address))
        if not code:
            return recover_signer(digest, bytes(signature)) == address
        call = {"to": address, "data": "0x" + ERC1271_MAGIC.hex() + encode_abi_words(digest, bytes(signature))}
        try:
            answer = self._read(f"ask {address} about a signature (ERC-1271)", lambda: self._w3.eth.call(call))
        except (FailedPrecondition, NotFound, PermissionDenied, Web3Exception):
            return False
        return erc1271_accepts(bytes(answer))

    def deploy(self, options: DeployOptions = DeployOptions()) -> Contracts:  # noqa: B008 - frozen
        admin = _admin(options.admin, self.minter)
        if not 0 <= options.royalty_bps <= 10_000:
            raise InvalidArgument("royalty_bps", options.royalty_bps, "use basis points between 0 and 10000")
        token = self._w3.eth.contract(abi=self._artifacts["RareVector"].abi, bytecode=self._artifacts["RareVector"].bytecode)
        receipt = self._send(
            "deploy RareVector",
            lambda: token.constructor(admin, self.minter, options.royalty_bps, options.base_uri, options.contract_uri),
        )
        exchange = self._w3.eth.contract(abi=self._artifacts["Exchange"].abi, bytecode=self._artifacts["Exchange"].bytecode)
        exchange_receipt = self._send("deploy Exchange", lambda: exchange.constructor())
        return self.attach(
            Contracts(
                chain_id=self._chain_id,
                token=receipt["contractAddress"],
                exchange=exchange_receipt["contractAddress"],
                deployed_at=int(receipt["blockNumber"]),
            )
        )

    def attach(self, contracts: Contracts) -> Contracts:
        if contracts.chain_id != self._chain_id:
            raise FailedPrecondition(
                f"the contracts were deployed on chain {contracts.chain_id} but the node at {self._where} serves "
                f"chain {self._chain_id}: attach to contracts of this chain"
            )
        token = self._w3.eth.contract(address=_address("token", contracts.token), abi=self._artifacts["RareVector"].abi)
        exchange = self._w3.eth.contract(address=_address("exchange", contracts.exchange), abi=self._artifacts["Exchange"].abi)
        codes: dict[str, bytes] = {}
        for name, contract in (("token", token), ("exchange", exchange)):
            code = self._read(f"read the code of the {name}", lambda c=contract: self._w3.eth.get_code(c.address))
            if not code:
                raise FailedPrecondition(
                    f"no contract at {name} address {contract.address} on chain {self._chain_id}: deploy first or fix the address"
                )
            codes[name] = bytes(code)
        try:  # a contract of another kind answers these with a revert or garbage
            is_token = self._read(
                "check the token",
                lambda: token.functions.supportsInterface(ERC721_INTERFACE).call()
                and token.functions.supportsInterface(ERC2981_INTERFACE).call(),
            )
            domain = self._read("check the exchange", lambda: exchange.functions.eip712Domain().call())
        except (FailedPrecondition, NotFound, PermissionDenied, Web3Exception):
            is_token, domain = False, None
        if not is_token or not domain or domain[1] != DOMAIN_NAME:
            raise FailedPrecondition(
                f"the contracts at {token.address} / {exchange.address} are not a RareVector token and a Multiverse "
                "Exchange: check the addresses"
            )
        if domain[2] != DOMAIN_VERSION:
            raise FailedPrecondition(
                f"the exchange at {exchange.address} speaks listing version {domain[2]!r} but this build speaks "
                f"{DOMAIN_VERSION!r} (listings now carry the token's nonce): deploy new contracts (for the embedded "
                "chain: move its data directory's chain folder aside; its tokens stay there)"
            )
        require_commitment(codes["token"], token.address)
        with self._lock:
            self._token, self._exchange, self._contracts = token, exchange, contracts
            self._royalty_bps = None
            self._events = {}
            for name, contract in (("RareVector", token), ("Exchange", exchange)):
                for item in contract.abi:
                    if item.get("type") == "event":
                        event = contract.events[item["name"]]()
                        self._events[bytes(Web3.keccak(text=_signature(item)))] = (name, event)
        return contracts

    def mint(self, to: str, content_hash: str, provenance: Provenance) -> Minted:
        owner = _address("to", to)
        token_id = _token_id(content_hash, "content_hash")
        space, snapshot = _space(provenance.space), _bytes32("provenance.snapshot", provenance.snapshot)
        if not isinstance(provenance.index, int) or not 0 <= provenance.index < 2**32:
            raise InvalidArgument("provenance.index", provenance.index, "give the vector's index as an integer in [0, 2**32)")
        if not isinstance(provenance.rarity_ppm, int) or not 0 <= provenance.rarity_ppm <= RARITY_SCALE:
            raise InvalidArgument(
                "provenance.rarity_ppm", provenance.rarity_ppm, f"give the percentile in parts per million, 0..{RARITY_SCALE}"
            )
        commitment = _bytes32("provenance.commitment", provenance.commitment) if provenance.commitment else bytes(32)
        token = self._require(self._token)
        try:
            receipt = self._mint(token, owner, token_id, (space, snapshot, provenance.index << 32 | provenance.rarity_ppm,
                                                          commitment))
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"mint {_id_hex(token_id)}: this vector was minted before (the token exists; a matrix is minted once)",
                token_id=_id_hex(token_id),
                contract_error=exc.details.get("contract_error"),
            ) from None
        return Minted(
            token_id=_id_hex(token_id),
            owner=owner,
            tx_hash=_hex(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
        )

    def _mint(self, token: Contract, owner: str, token_id: int, provenance: tuple) -> Any:
        """``provenance``: (space, snapshot, index << 32 | rarity ppm, commitment) as the contract takes them."""
        return self._send(f"mint {_id_hex(token_id)}", lambda: token.functions.mint(owner, token_id.to_bytes(32, "big"), *provenance))

    def owner_of(self, token_id: str) -> str:
        tid = _token_id(token_id)
        token = self._require(self._token)
        return self._read(f"read the owner of token {_id_hex(tid)}", lambda: token.functions.ownerOf(tid).call())

    def token_info(self, token_id: str) -> TokenInfo:
        tid = _token_id(token_id)
        token = self._require(self._token)
        what = f"read token {_id_hex(tid)}"
        owner = self._read(what, lambda: token.functions.ownerOf(tid).call())
        discoverer = self._read(what, lambda: token.functions.discoverer(tid).call())
        uri = self._read(what, lambda: token.functions.tokenURI(tid).call())
        if self._royalty_bps is None:
            self._royalty_bps = self._read(what, lambda: int(token.functions.royaltyBps().call()))
        return TokenInfo(
            token_id=_id_hex(tid),
            owner=owner,
            discoverer=discoverer,
            royalty_bps=self._royalty_bps,
            token_uri=uri,
            provenance=self._provenance(tid),
        )

    def is_approved_for_all(self, owner: str, operator: str) -> bool:
        o, op = _address("owner", owner), _address("operator", operator)
        token = self._require(self._token)
        return bool(self._read("read an approval", lambda: token.functions.isApprovedForAll(o, op).call()))

    def get_approved(self, token_id: str) -> str | None:
        tid = _token_id(token_id)
        token = self._require(self._token)
        approved = self._read(f"read the approval of token {_id_hex(tid)}", lambda: token.functions.getApproved(tid).call())
        return None if int(approved, 16) == 0 else approved

    def token_nonce(self, token_id: str) -> int:
        tid = _token_id(token_id)
        token = self._require(self._token)
        return int(self._read(f"read the nonce of token {_id_hex(tid)}", lambda: token.functions.tokenNonce(tid).call()))

    def credit_of(self, payee: str) -> int:
        p = _address("payee", payee)
        exchange = self._require(self._exchange)
        return int(self._read("read a payee's credit", lambda: exchange.functions.creditOf(p).call()))

    def salt_used(self, seller: str, salt: int) -> bool:
        s = _address("seller", seller)
        if not isinstance(salt, int) or isinstance(salt, bool) or not 0 <= salt < 2**256:
            raise InvalidArgument("salt", salt, "give the listing's salt, a whole number below 2**256")
        exchange = self._require(self._exchange)
        return bool(self._read("read a listing's state", lambda: exchange.functions.isUsed(s, salt).call()))

    def counter_of(self, seller: str) -> int:
        s = _address("seller", seller)
        exchange = self._require(self._exchange)
        return int(self._read("read a seller's counter", lambda: exchange.functions.counterOf(s).call()))

    def get_logs(self, from_block: int, to_block: int | None = None) -> list[ChainEvent]:
        if not isinstance(from_block, int) or from_block < 0:
            raise InvalidArgument("from_block", from_block, "give a block number >= 0")
        if to_block is not None and (not isinstance(to_block, int) or to_block < from_block):
            raise InvalidArgument("to_block", to_block, f"give a block number >= from_block ({from_block}) or None")
        token, exchange = self._require(self._token), self._require(self._exchange)
        query = {
            "address": [token.address, exchange.address],
            "fromBlock": from_block,
            "toBlock": "latest" if to_block is None else to_block,
        }
        logs = self._read(f"read logs of blocks {from_block}..{to_block or 'head'}", lambda: self._w3.eth.get_logs(query))
        return [event for event in map(self._decode, logs) if event is not None]

    def describe(self) -> str:
        where = f"chain {self._chain_id} at {self._where}"
        if self._contracts is not None:
            where += f" (token {self._contracts.token}, exchange {self._contracts.exchange})"
        return where

    def close(self) -> None:
        """Nothing to release for HTTP and in-process providers; kept for the port."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()}, minter={self.minter})"

    # -- internals -------------------------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], T]) -> T:
        with self._lock, translate(what, self._where, self._decoder):
            return call()

    def _send(self, what: str, build: Callable[[], Any], value: int = 0, account: Any = None) -> Any:
        """Build (estimating gas, which surfaces a revert with its reason), sign with ``account`` (the minter by
        default), send, and wait for the receipt."""
        account = account or self._account
        with self._lock, translate(what, self._where, self._decoder):
            nonce = self._w3.eth.get_transaction_count(account.address, "pending")
            tx = build().build_transaction({"from": account.address, "nonce": nonce, "chainId": self._chain_id, "value": value})
            tx_hash = self._w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
            receipt = self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout_s, poll_latency=0.05)
        if receipt["status"] != 1:
            raise FailedPrecondition(
                f"{what}: transaction {_hex(tx_hash)} was mined but reverted (the chain changed after the check): retry"
            )
        return receipt

    def _require(self, contract: Contract | None) -> Contract:
        if contract is None:
            raise FailedPrecondition("no contracts attached: call deploy() or attach() first")
        return contract

    def _provenance(self, token_id: int) -> Provenance | None:
        token = self._require(self._token)
        event = token.events.Provenance()
        topic0 = Web3.keccak(text=PROVENANCE_EVENT)
        query = {
            "address": token.address,
            "topics": [_hex(topic0), "0x" + token_id.to_bytes(32, "big").hex()],
            "fromBlock": self.contracts.deployed_at,
            "toBlock": "latest",
        }
        logs = self._read("read the provenance log", lambda: self._w3.eth.get_logs(query))
        if not logs:
            return None
        args = event.process_log(logs[0])["args"]
        return Provenance(
            space=args["space"].rstrip(b"\0").decode("utf-8", errors="replace"),
            snapshot=args["snapshot"].hex(),
            index=int(args["indexRarity"]) >> 32,
            rarity_ppm=int(args["indexRarity"]) & 0xFFFFFFFF,
            commitment="" if not any(args["commitment"]) else bytes(args["commitment"]).hex(),
        )

    def _decode(self, log: Any) -> ChainEvent | None:
        topics = log["topics"]
        if not topics or bytes(topics[0]) not in self._events:
            return None
        contract_name, event = self._events[bytes(topics[0])]
        decoded = event.process_log(log)
        # Solady's ERC721 names the token argument of Transfer and Approval `id`; the port says tokenId, as EIP-721 does
        named = {("tokenId" if k == "id" else k): v for k, v in decoded["args"].items()}
        args = {k: _id_hex(v) if k == "tokenId" else _plain(v) for k, v in named.items()}
        if "indexRarity" in args:  # Provenance packs two uint32 into one word: give them by name
            packed = int(args.pop("indexRarity"))
            args.update(index=packed >> 32, rarityPpm=packed & 0xFFFFFFFF)
        return ChainEvent(
            contract=contract_name,
            name=decoded["event"],
            args=args,
            address=to_checksum_address(log["address"]),
            block_number=int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            tx_hash=_hex(log["transactionHash"]),
            log_index=int(log["logIndex"]),
        )
