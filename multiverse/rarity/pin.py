"""Pinning the rarity a token is minted with, and recomputing it later from what the blob store keeps.

At a claim, ``pin`` reads the vector's score from the live engine and, under the same lock, saves the vector's
population as it is (``persist.pin``: blobs that the service's cleanup of superseded saves never deletes) and the
calibration the score is placed by (its canonical JSON, a blob named by its sha256). The token records the score,
the index version, both digests and the percentile and tier they give (multiverse/chain/provenance.py hashes them
into the mint's commitment).

``rescore`` is the other half: it loads the pinned population (``RarityEngine.load``, which checks that the stored
vectors still hash to what the index says), computes the vector's score on it and places it under a given
calibration, however much the live index has grown or been rebuilt since. A pin saved under another scoring
(``score.SCORING``) cannot be recomputed by this code: ``StaleIndex``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import weakref
from dataclasses import dataclass, replace

import numpy as np

from multiverse.errors import Corrupt, Unavailable
from multiverse.rarity import persist
from multiverse.rarity.calibrate import Calibration, tier_of
from multiverse.rarity.types import VectorId


@dataclass(frozen=True)
class Pinned:
    """A vector's rarity as pinned at a mint: raw ``score``, its ``percentile`` (0-100) and ``tier`` under the
    calibration ``calibration_hash`` names, the ``index_version`` it was computed at and the pinned population's
    manifest ``index_digest``."""

    score: float
    percentile: float
    tier: str
    index_version: str
    index_digest: str
    calibration_hash: str


@dataclass(frozen=True)
class Rescored:
    """A vector's rarity recomputed from a pin: ``score`` on the pinned population, ``percentile`` and ``tier``
    under the calibration asked for; ``index_version`` and ``calibration_hash`` of the pinned population itself."""

    score: float
    percentile: float
    tier: str
    index_version: str
    calibration_hash: str


def calibration_bytes(calibration: Calibration) -> bytes:
    """The canonical JSON of a calibration (sorted keys, no spaces): what its blob holds and its hash covers."""
    return json.dumps(calibration.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def calibration_hash(calibration: Calibration) -> str:
    return hashlib.sha256(calibration_bytes(calibration)).hexdigest()


def load_calibration(blobs, digest: str) -> Calibration:
    """The calibration stored under ``digest`` (hash-checked); ``NotFound`` when absent, ``Corrupt`` when its
    bytes no longer hash to it or do not parse."""
    data = blobs.read(digest, verify=True)
    try:
        return Calibration.from_json(json.loads(data))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise Corrupt(f"blob {digest} is not a calibration: {exc}", digest=digest) from exc


class Pinner:
    """Pins scores of one blob store's engines; remembers the last pin of each engine's population, so that claims
    against an unchanged population save nothing again."""

    def __init__(self, blobs) -> None:
        self.blobs = blobs
        self._last: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> {kind: (state, digest)}

    def pin(self, engine, vid: VectorId) -> Pinned:
        """The score of added vector ``vid`` in ``engine`` now, with the population and calibration it was computed
        against saved. ``Unavailable`` if the index kept moving under the read (it should not: the lock is held)."""
        vid = VectorId(*vid)
        with getattr(engine, "_lock", contextlib.nullcontext()):
            score = engine.rarity_of(vid)
            pop = engine.population(vid.kind)
            calibration = pop.calibration
            if calibration is None or (pop.index_version, calibration.version) != (
                score.index_version, score.calibration_version
            ):
                raise Unavailable(f"the rarity index of {engine.space} moved while {vid.kind} {vid.index} of snapshot "
                                  f"{vid.snapshot} was scored: retry the claim")
            state = (pop.index_version, calibration.version, pop.n_rows, pop.n_alive)
            known = self._last.setdefault(engine, {}).get(vid.kind)
            if known is not None and known[0] == state and self.blobs.exists(known[1]):
                digest = known[1]
            else:
                digest = persist.pin(engine, self.blobs, vid.kind)
                self._last[engine][vid.kind] = (state, digest)
        cal_hash = self.blobs.put_bytes(calibration_bytes(calibration))
        percentile = float(calibration.percentile(np.array([score.score]))[0])
        return Pinned(float(score.score), percentile, tier_of(percentile), score.index_version, digest, cal_hash)


def rescore(blobs, index_digest: str, vid: VectorId, calibration: Calibration) -> Rescored:
    """``vid``'s score recomputed on the population pinned under ``index_digest``, placed under ``calibration``.
    ``NotFound``/``Corrupt`` when the pin's blobs are missing or damaged, ``StaleIndex`` when it was saved under
    another scoring, ``NotFound`` when the pin holds no such vector, ``Corrupt`` when the digest names no pin."""
    from multiverse.rarity.engine import RarityEngine

    vid = VectorId(*vid)
    try:
        manifest = json.loads(blobs.read(index_digest))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Corrupt(f"blob {index_digest} is not a pinned rarity index: {exc}", digest=index_digest) from exc
    if not isinstance(manifest, dict) or manifest.get("pinned") is not True:
        raise Corrupt(f"blob {index_digest} is not a pinned rarity index", digest=index_digest)
    engine = RarityEngine.load(blobs, index_digest)
    pop = engine.population(vid.kind)
    pinned = pop.calibration
    # the score uses the density floor of the calibration it was placed by at mint: the pinned one; never refit it
    pop.config = replace(pop.config, recalibrate_growth=math.inf)
    score = engine.rarity_of(vid)
    percentile = float(calibration.percentile(np.array([score.score]))[0])
    return Rescored(
        float(score.score),
        percentile,
        tier_of(percentile),
        pop.index_version,
        calibration_hash(pinned) if pinned is not None else "",
    )
