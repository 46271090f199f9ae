"""The rarity a token was minted with, and its on-chain commitment. Pure.

A token's Provenance event carries ``commitment`` = sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of a
``MintRecord``: where the vector is (space, snapshot, kind, index), the score it was minted with, its percentile in
ppm (as the event's ``indexRarity`` packs it), the index version the score was computed at, the digest of that index
as pinned in the blob store, and the hash of the calibration (a blob too) that placed the score in a percentile.
Whoever holds the blob store can load the pinned index, recompute the score, place it under the calibration and
hash the record again: a changed row, blob or score shows as a commitment that is not the chain's.

Floats are written as Python's shortest round-trip repr (``json.dumps``), so the same double always gives the same
bytes; the database keeps the score as a double, which gives it back exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from multiverse.errors import FailedPrecondition

from .base import PROVENANCE_EVENT, RARITY_SCALE

FORMAT = "multiverse.mint.v1"


@dataclass(frozen=True)
class MintRecord:
    """What a mint commits to (see the module docstring). ``percentile_ppm``: 0..RARITY_SCALE."""

    space: str
    snapshot: str
    kind: str
    index: int
    score: float
    percentile_ppm: int
    index_version: str
    index_digest: str
    calibration_hash: str

    def canonical(self) -> bytes:
        """The bytes the commitment hashes."""
        body: dict[str, Any] = {"format": FORMAT, **asdict(self), "score": float(self.score)}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()

    def commitment(self) -> str:
        """sha256 (64 hex) of ``canonical()``: the Provenance event's ``commitment``."""
        return hashlib.sha256(self.canonical()).hexdigest()


def ppm(percentile: float) -> int:
    """A percentile (0-100) in parts per million, as minted."""
    return min(RARITY_SCALE, max(0, round(float(percentile) * RARITY_SCALE / 100)))


def require_commitment(code: bytes, address: str) -> None:
    """Refuse a RareVector deployed before mints committed to their rarity: its runtime code has no topic of
    today's Provenance event (the topic is a 32-byte constant the event's emitter pushes)."""
    from web3 import Web3

    if bytes(Web3.keccak(text=PROVENANCE_EVENT)) not in code:
        raise FailedPrecondition(
            f"the token at {address} was deployed before mints committed to their rarity (its Provenance event has "
            "no commitment): deploy new contracts (for the embedded chain: move its data directory's chain folder "
            "aside; its tokens stay there)"
        )
