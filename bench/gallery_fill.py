"""The gallery bench's population: a small latent space filled with N vectors through the store, scored by the
rarity service's own rebuild, the way a service that was down while the games saved comes back.

Why this way: saving N vectors one snapshot at a time and scoring each as it lands takes hours at N = 1,000,000;
a few large snapshots of a 16-value space save in seconds, and ``App.open`` finds a space with no saved index and
rebuilds it from every stored snapshot in one bulk pass (``multiverse/rarity/worker.py``), then saves it to the
blob store and points the metadata at it. Everything the gateway reads afterwards (worlds, snapshots, lineage,
states for pictures, the rarity index) is what a real deployment holds, served by the same ``App``.

The space ``gallery-bench``: frames of (4, 4) float32 and player vectors of 4, no decoder (pictures are charts).
``WORLDS`` public worlds owned by the server ``bench``, ``SNAPSHOTS`` snapshots each (each the child of the one
before), ``PLAYERS`` players per snapshot, frames split evenly so frames + players = N. Frames are Gaussian
clusters around shared centres (worlds overlap, so world filters cut a shared ranking) with 0.5% far points (the
rare ones). Seeded: the same N gives the same states and snapshot ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from multiverse.blobs import open_blob_store
from multiverse.chain import ChainConfig
from multiverse.config import Settings
from multiverse.market import MarketConfig
from multiverse.market.wiring import MarketSettings
from multiverse.metadata import open_metadata
from multiverse.records import PUBLIC, ROLE_ADMIN, ROLE_SERVER, SpaceRecord
from multiverse.state.format import encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest, Store

SPACE = SpaceRecord("gallery-bench", (4, 4), "float32", 4, max_players=64)
WORLDS, SNAPSHOTS, PLAYERS = 8, 5, 16
CENTRES, SPREAD, FAR = 256, 0.35, 0.005
CHUNK = 1 << 20  # the store's largest upload chunk
ADMIN = Principal("admin", ROLE_ADMIN)
SERVER = Principal("bench", ROLE_SERVER)


def world_names() -> list[str]:
    return [f"bench-w{i}" for i in range(WORLDS)]


def settings(data: Path) -> Settings:
    """The bench's App settings: embedded SQLite and blob directory under ``data``, the market on (the gateway
    reads tokens for every card), the wallet JSON-RPC on a free port, the rate limit high enough never to bite."""
    market = MarketSettings(chain=ChainConfig(), market=MarketConfig(), rpc_listen="127.0.0.1:0", poll_s=0)
    return replace(Settings(data_dir=data, grpc_addr="127.0.0.1:0", market=market, http_listen="127.0.0.1:0"),
                   http_rate=1e9, http_burst=10**9)


@dataclass(frozen=True)
class Filled:
    n_vectors: int  # frames + player vectors stored
    n_frames: int
    n_players: int
    snapshots: int
    state_bytes: int
    save_s: float  # states encoded and saved through the store


def frames_per_snapshot(n_vectors: int) -> int:
    per = WORLDS * SNAPSHOTS
    return max(1, -(-(n_vectors - per * PLAYERS) // per))


def _state(rng: np.random.Generator, centres: np.ndarray, frames: int, tag: str) -> bytes:  # tag: 8 digits
    """One state: ``frames`` clustered frames (FAR of them far out) and PLAYERS player vectors."""
    which = rng.integers(0, len(centres), frames)
    x = centres[which] + SPREAD * rng.standard_normal((frames, 16), dtype=np.float32)
    far = rng.random(frames) < FAR
    x[far] = rng.uniform(-12, 12, (int(far.sum()), 16)).astype(np.float32)
    players = rng.standard_normal((PLAYERS, SPACE.player_dim), dtype=np.float32)
    people = [{"uuid": f"00000000-0000-4000-8000-{tag}{i:04d}", "name": f"bot{i}",
               "stats": {"Health": 20.0}} for i in range(PLAYERS)]
    return encode_state(torch.from_numpy(x.reshape(frames, *SPACE.frame_shape)), torch.from_numpy(players),
                        space=SPACE.name, players=people, timeline=[])


def fill(data: Path, n_vectors: int, *, seed: int = 0) -> Filled:
    """Register the space and worlds in a fresh data directory and save the states (no rarity service runs:
    the App's start rebuilds the index from them). Returns what was stored and how long the saves took."""
    started = time.perf_counter()
    config = settings(data)
    data.mkdir(parents=True, exist_ok=True)
    meta = open_metadata(config.database_url)
    try:
        store = Store(meta, open_blob_store(config.blobs_url), config.spool_dir, config.limits)
        store.register_space(ADMIN, SPACE)
        rng = np.random.default_rng(seed)
        centres = rng.uniform(-4, 4, (CENTRES, 16)).astype(np.float32)
        per = frames_per_snapshot(n_vectors)
        size = count = 0
        for w, world in enumerate(world_names()):
            store.create_world(ADMIN, world, SPACE.name, owner=SERVER.name, visibility=PUBLIC,
                               description=f"gallery bench world {w}")
            parent = ""
            for s in range(SNAPSHOTS):
                blob = _state(rng, centres, per, f"{w:04d}{s:04d}")
                chunks = [blob[i:i + CHUNK] for i in range(0, len(blob), CHUNK)]  # as a client streams it
                record, _ = store.save(SERVER, SaveRequest(world=world, size=len(blob), expected_parent=parent),
                                       chunks)
                parent, size, count = record.id, size + len(blob), count + 1
    finally:
        meta.close()
    frames, players = per * count, PLAYERS * count
    return Filled(frames + players, frames, players, count, size, time.perf_counter() - started)
