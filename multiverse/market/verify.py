"""Verifying a token's rarity at mint: recompute it from what the store keeps and check it against the chain.

``verify_token(market, token_id)`` answers, for a claimed token:
- ``verified``: the vector's bytes still hash to the token id; the chain's Provenance names the token row's space,
  snapshot, index and percentile, and its commitment is the hash of the row's mint record
  (multiverse/chain/provenance.py); the index pinned at mint, loaded from the blob store, gives the recorded score
  again, and the recorded calibration (a blob named by its hash, the one the pinned index was calibrated by) places
  it at the recorded percentile and tier; the index version is the recorded one. However the live index has grown
  or been rebuilt since: the pin is what the token was scored against.
- ``mismatch``: one ``Difference`` per field that does not hold (``field``, what is recorded, what was found, why).
- ``unverifiable``: nothing to check against: the token was minted before mints committed to their rarity (the
  chain holds no commitment and the row no mint record), the node no longer serves its Provenance log, or the pin
  was scored under a scoring this code no longer computes.

Read only; anyone may ask (a token's rarity is public). ``NotFound`` for a token never claimed here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from multiverse.chain.base import Provenance
from multiverse.chain.provenance import MintRecord, ppm
from multiverse.errors import Corrupt, FailedPrecondition, NotFound

from .rows import TokenRow
from .vectors import VectorRef

VERIFIED, MISMATCH, UNVERIFIABLE = "verified", "mismatch", "unverifiable"
BEFORE_COMMITMENTS = "minted before mints committed to their rarity (no commitment on chain, no mint record)"


@dataclass(frozen=True)
class Difference:
    field: str
    recorded: Any
    found: Any
    why: str


@dataclass(frozen=True)
class Verification:
    """The answer (see the module docstring). ``recorded``: the token row's mint record (and its commitment);
    ``recomputed``: what was found (score, percentile in ppm, tier, index version, the chain's commitment, ...)."""

    token_id: str
    status: str
    reason: str
    differences: tuple[Difference, ...] = ()
    recorded: dict[str, Any] = field(default_factory=dict)
    recomputed: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "differences": [asdict(d) for d in self.differences]}


def verify_token(market, token_id: str) -> Verification:
    """Recompute and check the rarity token ``token_id`` was minted with (``market``: a ``Market``)."""
    row = market.get_token(token_id)  # InvalidArgument for a malformed id, NotFound for one never claimed here
    tid = row.token_id
    diffs: list[Difference] = []
    try:
        chain = market.chain.token_info(tid).provenance
    except NotFound:
        chain = None
        diffs.append(Difference("token_id", tid, None, "the chain has no such token (its mint was undone?)"))
    if chain is None and not diffs:
        return Verification(tid, UNVERIFIABLE, "the chain node no longer serves the token's Provenance log")
    _check_vector(market, row, diffs)
    if chain is not None:
        _check_provenance(row, chain, diffs)
    if row.scoring is None and (chain is None or not chain.commitment):
        status = MISMATCH if diffs else UNVERIFIABLE
        return Verification(tid, status, _reason(diffs) if diffs else BEFORE_COMMITMENTS, tuple(diffs))
    if row.scoring is None:
        diffs.append(Difference("commitment", None, chain.commitment,
                                "the chain holds a commitment but the token row has lost its mint record"))
        return Verification(tid, MISMATCH, _reason(diffs), tuple(diffs))
    s = row.scoring
    record = MintRecord(row.space, row.snapshot, row.kind, row.vector_index, s.score, ppm(row.percentile),
                        s.index_version, s.index_digest, s.calibration_hash)
    recorded = {**asdict(record), "tier": row.tier, "commitment": s.commitment}
    found: dict[str, Any] = {"chain_commitment": chain.commitment if chain else None}
    if record.commitment() != s.commitment:
        diffs.append(Difference("commitment", s.commitment, record.commitment(),
                                "the token row's fields no longer hash to the commitment it recorded"))
    if chain is not None and chain.commitment != s.commitment:
        diffs.append(Difference("chain.commitment", s.commitment, chain.commitment or None,
                                "the chain's Provenance commits to another mint record"))
    unverifiable = _rescore(market.blobs, row, found, diffs)
    if diffs:
        return Verification(tid, MISMATCH, _reason(diffs), tuple(diffs), recorded, found)
    if unverifiable:
        return Verification(tid, UNVERIFIABLE, unverifiable, (), recorded, found)
    return Verification(tid, VERIFIED, f"score {s.score:.6g} at index version {s.index_version} recomputed from the "
                        "pinned index; percentile, tier and the chain's commitment agree", (), recorded, found)


def _check_vector(market, row: TokenRow, diffs: list[Difference]) -> None:
    try:
        vector = market.read(VectorRef(row.space, row.snapshot, row.kind, row.vector_index))
    except (NotFound, Corrupt, FailedPrecondition) as exc:
        diffs.append(Difference("vector", row.token_id, None, f"the vector cannot be read back: {exc}"))
        return
    got = hashlib.sha256(vector.data).hexdigest()
    if got != row.token_id:
        diffs.append(Difference("vector", row.token_id, got, "the stored vector's bytes no longer hash to the token id"))


def _check_provenance(row: TokenRow, chain: Provenance, diffs: list[Difference]) -> None:
    for name, recorded, on_chain in (
        ("space", row.space, chain.space),
        ("snapshot", row.snapshot, chain.snapshot),
        ("vector_index", row.vector_index, chain.index),
        ("percentile", ppm(row.percentile), chain.rarity_ppm),
    ):
        if recorded != on_chain:
            diffs.append(Difference(name, recorded, on_chain, f"the chain's Provenance records {name} {on_chain!r}"))


def _rescore(blobs, row: TokenRow, found: dict[str, Any], diffs: list[Difference]) -> str:
    """Recompute the score from the pin under the recorded calibration, adding what differs to ``diffs``; returns
    why it could not be recomputed at all by this code ("" when it was)."""
    from multiverse.rarity.persist import StaleIndex
    from multiverse.rarity.pin import load_calibration, rescore
    from multiverse.rarity.types import VectorId

    s = row.scoring
    try:
        calibration = load_calibration(blobs, s.calibration_hash)
    except (NotFound, Corrupt) as exc:
        diffs.append(Difference("calibration_hash", s.calibration_hash, None, f"no usable calibration blob: {exc}"))
        return ""
    try:
        again = rescore(blobs, s.index_digest, VectorId(row.snapshot, row.kind, row.vector_index), calibration)
    except StaleIndex as exc:
        return f"the pinned index cannot be recomputed by this code: {exc}"
    except (NotFound, Corrupt, FailedPrecondition) as exc:
        diffs.append(Difference("index_digest", s.index_digest, None, f"the pinned index does not load: {exc}"))
        return ""
    found.update(score=again.score, percentile_ppm=ppm(again.percentile), tier=again.tier,
                 index_version=again.index_version, calibration_hash=again.calibration_hash)
    checks = (
        ("score", s.score, again.score, math.isclose(s.score, again.score, rel_tol=1e-9, abs_tol=1e-12),
         "the pinned index gives another score"),
        ("index_version", s.index_version, again.index_version, s.index_version == again.index_version,
         "the pinned index is at another version"),
        ("calibration_hash", s.calibration_hash, again.calibration_hash, s.calibration_hash == again.calibration_hash,
         "the pinned index was calibrated by another calibration"),
        ("percentile", ppm(row.percentile), ppm(again.percentile), ppm(row.percentile) == ppm(again.percentile),
         "the recorded calibration places the recomputed score at another percentile"),
        ("tier", row.tier, again.tier, row.tier == again.tier, "the recomputed percentile is in another tier"),
    )
    diffs.extend(Difference(name, rec, got, why) for name, rec, got, ok, why in checks if not ok)
    return ""


def _reason(diffs: list[Difference]) -> str:
    names = list(dict.fromkeys(d.field for d in diffs))
    return f"{', '.join(names)} {'does' if len(names) == 1 else 'do'} not match: {diffs[0].why}"
