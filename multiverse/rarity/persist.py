"""Saving a rarity engine to a blob store and loading it back. Never pickle.

Per population, two blobs: the FAISS index (``faiss.serialize_index``; it holds the vectors) and the k-NN
lists, content hashes and id arrays (safetensors: a JSON header and raw little-endian arrays). A JSON manifest
names both by digest, with the config, the embedder's version, the index's parameters, the calibration, the
snapshot and world names, the scoring (score.SCORING; an index stored under another one is stale), and the snapshots recorded as unscorable (with why). The manifest's digest is the
handle to keep. ``pin`` saves one population for a minted token, in blobs no save shares (see there).

Loading checks that the vectors read back from the index still hash to the stored content hashes, so a
damaged or mismatched blob is ``Corrupt`` rather than silently wrong scores.
"""

from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from multiverse.errors import Corrupt, FailedPrecondition, NotFound
from multiverse.rarity.calibrate import Calibration
from multiverse.rarity.embed import content_hash
from multiverse.rarity.ids import Registry
from multiverse.rarity.index import VectorIndex
from multiverse.rarity.knn import Graph
from multiverse.rarity.score import SCORING
from multiverse.rarity.types import RarityConfig

FORMAT = "multiverse.rarity.v1"
PINNED_INDEX = "pinned_faiss_index"  # a pin's FAISS index, inside its arrays blob (uint8)


class StaleIndex(FailedPrecondition):
    """A stored index that this code cannot use as is (another format or embedder version): rebuild it."""


def save(engine, blobs) -> str:
    kinds = {kind: _entry(pop, blobs) for kind, pop in engine._pops.items()}
    return _put_manifest(engine, blobs, kinds)


def pin(engine, blobs, kind: str) -> str:
    """Save ``kind``'s population as it is now, for a token minted against it (multiverse/rarity/pin.py); returns
    the manifest's digest, which ``load`` reads like any other. The caller holds the engine's lock.

    A pin must outlive the service's saves, whose superseded blobs the service deletes (``blobs_of``): a pin keeps the
    FAISS index inside its arrays blob, whose header also says it is pinned, and its manifest says so too, so that no
    blob of a pin has the bytes (the digest) of a blob of a save."""
    return _put_manifest(engine, blobs, {kind: _entry(engine.population(kind), blobs, pinned=True)}, pinned=True)


def _entry(pop, blobs, *, pinned: bool = False) -> dict:
    n = pop.n_rows
    arrays = {
        "hashes": pop.hashes[:n],
        "alive": pop.alive[:n].astype(np.uint8),
        "dist": pop.graph.dist[:n],
        "nbr": pop.graph.nbr[:n],
        **pop.registry.arrays(),
    }
    if pinned:
        arrays[PINNED_INDEX] = np.frombuffer(pop.index.to_bytes(), dtype=np.uint8)
    arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    return {
        "embedder": pop.embedder.version,
        "index": pop.index.meta(),
        "index_blob": "" if pinned else blobs.put_bytes(pop.index.to_bytes()),
        "arrays_blob": blobs.put_bytes(st_save(arrays, metadata={"pinned": "1"} if pinned else None)),
        "n_rows": n,
        "build": pop.build,
        "revision": pop.revision,
        "calibration": pop.calibration.to_json() if pop.calibration else None,
        "names": pop.registry.names(),
    }


def _put_manifest(engine, blobs, kinds: dict, *, pinned: bool = False) -> str:
    manifest = {
        "format": FORMAT,
        "scoring": SCORING,
        "space": engine.space,
        "frame_dim": engine.frame_dim,
        "player_dim": engine.player_dim,
        "vocab_size": engine.vocab_size,
        "config": engine.config.to_json(),
        "kinds": kinds,
        "unscorable": dict(sorted(engine.unscorable.items())),
        **({"pinned": True} if pinned else {}),
    }
    return blobs.put_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())


def blobs_of(blobs, digest: str) -> set[str]:
    """The digests a saved engine consists of: its manifest and every blob the manifest names (empty when the
    manifest is missing or unreadable)."""
    try:
        manifest = json.loads(blobs.read(digest))
        named = {entry[name] for entry in manifest["kinds"].values() for name in ("index_blob", "arrays_blob")}
        return {digest} | (named - {""})
    except (NotFound, Corrupt, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return set()


def load(cls, blobs, digest: str, *, threads: int = 0, device: str = "auto"):
    try:
        manifest = json.loads(blobs.read(digest))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Corrupt(f"rarity manifest {digest} is not JSON: {exc}", digest=digest) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StaleIndex(f"blob {digest} is not a {FORMAT} manifest: rebuild the rarity index", digest=digest)
    if manifest.get("scoring") != SCORING:  # absent: saved before scorings were named
        raise StaleIndex(
            f"rarity index {digest} was scored with {manifest.get('scoring') or 'an earlier scoring'}, this code "
            f"scores with {SCORING}: rebuild the rarity index from the stored vectors", digest=digest)
    try:
        config = RarityConfig.from_json(manifest["config"], threads=threads, device=device)
        engine = cls(
            manifest["space"],
            frame_dim=int(manifest["frame_dim"]),
            player_dim=int(manifest["player_dim"]),
            vocab_size=int(manifest["vocab_size"]),
            config=config,
        )
        for kind, entry in manifest["kinds"].items():
            _load_population(engine.population(kind), entry, blobs)
        # absent from manifests saved before unscorable snapshots were recorded
        engine.unscorable = {str(k): str(v) for k, v in dict(manifest.get("unscorable") or {}).items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: FAISS on a damaged index
        raise Corrupt(f"rarity manifest {digest} does not load: {exc!r}", digest=digest) from exc
    return engine


def _load_population(pop, entry: dict, blobs) -> None:
    if entry["embedder"] != pop.embedder.version:
        raise StaleIndex(
            f"stored {pop.kind} index was embedded with {entry['embedder']}, this code uses {pop.embedder.version}: "
            "rebuild the rarity index from the stored vectors"
        )
    n = int(entry["n_rows"])
    arrays = st_load(blobs.read(entry["arrays_blob"]))
    raw = arrays.pop(PINNED_INDEX).tobytes() if not entry["index_blob"] else blobs.read(entry["index_blob"])
    index = VectorIndex.from_bytes(pop.dim, pop.config.index, raw, entry["index"])
    alive = arrays["alive"].astype(bool)
    rows = np.flatnonzero(alive)
    x = np.zeros((n, pop.dim), dtype=np.float32)
    x[rows] = index.reconstruct(rows)
    if not np.array_equal(content_hash(x[rows]), arrays["hashes"][rows]):
        raise Corrupt(f"the stored {pop.kind} index does not hold the vectors its hashes name")
    pop.x, pop.hashes, pop.alive, pop.n_rows = x, arrays["hashes"].copy(), alive, n
    pop.graph = Graph(pop.k, n)
    pop.graph.dist[:], pop.graph.nbr[:] = arrays["dist"], arrays["nbr"]
    pop.index = index
    pop.registry = Registry.restore(entry["names"], arrays)
    pop.by_hash = {}
    for r in rows.tolist():
        pop.by_hash.setdefault(int(pop.hashes[r]), []).append(r)
    pop.build, pop.revision = int(entry["build"]), int(entry["revision"])
    pop.calibration = Calibration.from_json(entry["calibration"]) if entry["calibration"] else None
