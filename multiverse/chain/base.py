"""The chain port: the RareVector token and the Exchange on an Ethereum chain, seen from the domain.

Two adapters keep the same promises (tests/chain runs one suite against each):
- ``InProcessChain``: an in-process EVM (eth-tester + py-evm); the contracts are deployed at start-up.
- ``RpcChain``: any Ethereum JSON-RPC node by URL (anvil in tests, a real network in production).

Promises:
- transactions are signed locally with the minter key from configuration; the key never appears in a log,
  a repr or an error message;
- a call the contract refuses raises ``FailedPrecondition`` (or ``AlreadyExists`` for a vector minted before,
  ``PermissionDenied`` for a missing role, ``NotFound`` for a token that does not exist) whose message names
  the contract error and its arguments; a node that cannot be reached raises ``Unavailable``;
- a write returns only after its transaction is mined with success.

Values crossing the port: addresses are checksummed ``0x`` strings; token ids are the 64-digit lowercase hex
sha256 of the vector's canonical bytes (no ``0x``, like blob digests); hashes of blocks, transactions and
listings are ``0x``-prefixed hex.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Rarity at mint is a percentile in parts per million: 999_000 means rarer than 99.9% of the space.
RARITY_SCALE = 1_000_000
SPACE_BYTES = 32  # a latent space name is stored on-chain as UTF-8, right-padded to 32 bytes
# The token's Provenance event; a token deployed before the rarity commitment emits the shorter one (no commitment)
PROVENANCE_EVENT = "Provenance(uint256,bytes32,bytes32,uint64,bytes32)"


@dataclass(frozen=True)
class Contracts:
    """Where the two contracts live, and the block the token was deployed in (where log scans start)."""

    chain_id: int
    token: str
    exchange: str
    deployed_at: int = 0


@dataclass(frozen=True)
class Provenance:
    """Where a rare vector came from, as recorded at mint.

    ``space``: latent space name (at most 32 UTF-8 bytes); ``snapshot``: the snapshot id (64 hex);
    ``index``: the vector's index in that snapshot (< 2**32); ``rarity_ppm``: percentile in ppm (0..1_000_000);
    ``commitment``: 64 hex, the sha256 of the rarity at mint (``multiverse.chain.provenance``), so that it can be
    recomputed and checked later; "" for a mint that commits to nothing (zero on chain, as before the field existed).
    """

    space: str
    snapshot: str
    index: int
    rarity_ppm: int
    commitment: str = ""


@dataclass(frozen=True)
class Minted:
    token_id: str
    owner: str
    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    owner: str
    discoverer: str  # receives the royalty; the owner until the token first moves
    royalty_bps: int
    token_uri: str
    provenance: Provenance | None  # from the Provenance log; None if the node no longer serves that log


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log of the token or the exchange. ``block_hash`` lets an indexer notice reorgs."""

    contract: str  # "RareVector" | "Exchange"
    name: str  # event name: Transfer, Provenance, Sold, Cancelled, CounterIncremented, ...
    args: Mapping[str, Any] = field(hash=False)
    address: str = ""
    block_number: int = 0
    block_hash: str = ""
    tx_hash: str = ""
    log_index: int = 0


@dataclass(frozen=True)
class BlockRef:
    """A block as an indexer sees it: its number, hash and parent's hash (``0x`` hex)."""

    number: int
    hash: str
    parent_hash: str


@dataclass(frozen=True)
class DeployOptions:
    """What ``deploy`` needs beyond the minter key. ``admin`` (required, and not the minter's address) holds the
    token's admin role: it appoints minters and sets the URIs. The in-process chain makes one when none is given."""

    royalty_bps: int = 500
    base_uri: str = ""
    contract_uri: str = ""
    admin: str | None = None


class Chain(Protocol):
    @property
    def contracts(self) -> Contracts:
        """The attached contracts; ``FailedPrecondition`` before ``deploy`` or ``attach``."""
        ...

    @property
    def minter(self) -> str:
        """The minter's address (never its key)."""
        ...

    def chain_id(self) -> int: ...

    def block_number(self) -> int: ...

    def block_hash(self, number: int) -> str:
        """Hash of block ``number``; ``NotFound`` past the head."""
        ...

    def block(self, number: int) -> BlockRef:
        """Block ``number`` of the current canonical chain; ``NotFound`` past the head."""
        ...

    def block_logs(self, block: BlockRef) -> list[ChainEvent]:
        """Decoded logs of both contracts at ``block.number``, in chain order. Events whose ``block_hash`` is not
        ``block.hash`` mean the block was replaced (a reorg) since ``block`` was read."""
        ...

    def is_valid_signature(self, signer: str, digest: bytes, signature: bytes) -> bool:
        """Whether ``signature`` over ``digest`` is ``signer``'s: ECDSA for an account, ERC-1271 for a contract."""
        ...

    def deploy(self, options: DeployOptions = DeployOptions()) -> Contracts:
        """Deploy RareVector (minter role to the minter key, admin role to ``options.admin``) and Exchange from the
        minter key; attach to them. ``InvalidArgument`` without an admin, or with the minter as admin."""
        ...

    def attach(self, contracts: Contracts) -> Contracts:
        """Use contracts deployed before; checks the chain id and that both addresses hold the expected contracts."""
        ...

    def mint(self, to: str, content_hash: str, provenance: Provenance) -> Minted:
        """Mint token ``content_hash`` (sha256 hex of the vector's canonical bytes) to its discoverer ``to``.
        ``AlreadyExists`` if that vector was minted before."""
        ...

    def owner_of(self, token_id: str) -> str:
        """``NotFound`` if the token does not exist."""
        ...

    def token_info(self, token_id: str) -> TokenInfo: ...

    def is_approved_for_all(self, owner: str, operator: str) -> bool: ...

    def get_approved(self, token_id: str) -> str | None: ...

    def token_nonce(self, token_id: str) -> int:
        """How often the token moved since its mint: a listing must be signed with it, and dies when it changes."""
        ...

    def credit_of(self, payee: str) -> int:
        """Wei the exchange credited to ``payee`` (sale payments it could not receive), until it withdraws them."""
        ...

    def salt_used(self, seller: str, salt: int) -> bool:
        """Whether the exchange saw a listing of ``seller`` with this salt (its nonce) filled or cancelled; for salts
        below 128, since the seller's last counter bump."""
        ...

    def counter_of(self, seller: str) -> int:
        """The seller's exchange counter: listings must be signed with it to be fillable."""
        ...

    def get_logs(self, from_block: int, to_block: int | None = None) -> list[ChainEvent]:
        """Decoded logs of both contracts in ``[from_block, to_block]`` (``None``: the head), in chain order."""
        ...

    def describe(self) -> str:
        """Where the chain is, for logs (never a secret)."""
        ...

    def close(self) -> None: ...
