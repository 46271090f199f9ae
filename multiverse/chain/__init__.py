"""The chain port and its two adapters (see base.py for the promises).

    open_chain(ChainConfig(kind="memory"))                      # in-process EVM, contracts deployed
    open_chain(ChainConfig(kind="rpc", rpc_url=..., minter_key=...))  # any JSON-RPC node
"""

from __future__ import annotations

from . import _recursion  # noqa: F401 - first: undoes py_ecc's recursion limit before anything imports it
from .artifacts import Artifact, load_artifact, source_hash
from .base import (
    RARITY_SCALE,
    BlockRef,
    Chain,
    ChainEvent,
    Contracts,
    DeployOptions,
    Minted,
    Provenance,
    TokenInfo,
)
from .config import ChainConfig, Secret, minter_key
from .listing import Listing, listing_digest, sign_listing, typed_data


def open_chain(config: ChainConfig) -> Chain:
    """The adapter ``config.kind`` names, attached to (or having deployed) the contracts."""
    if config.kind == "rpc":
        from .rpc import RpcChain

        return RpcChain(config)
    from .memory import InProcessChain

    return InProcessChain(config)


def token_id_for(canonical: bytes) -> str:
    """The token id of a vector: the sha256 (hex) of its canonical bytes."""
    import hashlib

    return hashlib.sha256(canonical).hexdigest()


__all__ = [
    "RARITY_SCALE",
    "Artifact",
    "BlockRef",
    "Chain",
    "ChainConfig",
    "ChainEvent",
    "Contracts",
    "DeployOptions",
    "Listing",
    "Minted",
    "Provenance",
    "Secret",
    "TokenInfo",
    "listing_digest",
    "load_artifact",
    "minter_key",
    "open_chain",
    "sign_listing",
    "source_hash",
    "token_id_for",
    "typed_data",
]
