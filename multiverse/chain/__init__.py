"""The chain port and its two adapters (see base.py for the promises).

    open_chain(ChainConfig(kind="memory"))                      # in-process EVM, contracts deployed
    open_chain(ChainConfig(kind="rpc", rpc_url=..., minter_key=...))  # any JSON-RPC node
"""

from __future__ import annotations

import sys as _sys

# py_ecc (under eth-tester, py-evm and eth-account) raises the recursion limit to 100,000 when imported: deep
# recursion (json.loads of nested input, say) then overflows a thread's C stack and kills the process instead of
# raising RecursionError. Import it first, here, and put the limit back: its optimized curves (what py-evm's
# precompiles use) do not recurse deeply. py-evm then sets 12,288 for 1,024 nested EVM calls, which a thread's
# stack holds (a JSON nested 12,000 deep parses; deeper raises RecursionError).
_limit = _sys.getrecursionlimit()
import py_ecc  # noqa: E402,F401 - for its import-time side effect, undone on the next line

_sys.setrecursionlimit(_limit)

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
