"""Building blocks for crossing tests: states with chosen frames, players and texts; saves and forks.

A fork (a world whose first state descends from another world's snapshot) has no RPC of its own yet, so
``fork`` commits it through the real metadata port and blob store, as a save would.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from typing import Any

import torch

import sqlalchemy as sa

from multiverse.crossing.stored import state_id
from multiverse.metadata.models import chunk_packs, chunked_states
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import decode_state, encode_state, stored_header

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8, max_players=8)
OTHER = SpaceRecord("other", (4, 3, 2), "float16", 8, max_players=8)


def uid(i: int) -> str:
    return str(uuidlib.UUID(int=i, version=4))


def player(i: int, **stats: Any) -> dict[str, Any]:
    base = {"Health": 20.0, "XpLevel": 5, "foodLevel": 20, "Pos": [0.0, 64.0, 0.0],
            "Inventory": [{"Slot": 0, "id": "minecraft:diamond_pickaxe", "count": 1}]}
    return {"uuid": uid(i), "name": f"player{i}", "stats": {**base, **stats}}


def frames(seed: int, n: int = 6, shape: tuple[int, ...] = SPACE.frame_shape) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g).half()


def vectors(seed: int, n: int, dim: int = SPACE.player_dim) -> torch.Tensor:
    g = torch.Generator().manual_seed(10_000 + seed)
    return torch.randn((n, dim), generator=g).half()


def state(x: torch.Tensor, players: list[dict[str, Any]] | None = None, v: torch.Tensor | None = None,
          texts: list[tuple[int, str]] | None = None, space: SpaceRecord = SPACE) -> bytes:
    players = players or []
    v = v if v is not None else vectors(0, len(players), space.player_dim)
    return encode_state(x, v, space=space.name, players=players,
                        timeline=[{"frame": f, "text": t} for f, t in texts or []])


def diverged(x: torch.Tensor, seed: int, scale: float = 0.5) -> torch.Tensor:
    """``x`` moved by seeded noise: a descendant state that drifted away."""
    g = torch.Generator().manual_seed(seed)
    return (x.float() + scale * torch.randn(x.shape, generator=g)).half()


def fork(app: Any, world: str, data: bytes, parent: Any) -> SnapshotRecord:
    """World ``world`` (created, empty) gets ``data`` as its first state, a child of ``parent`` (any world's)."""
    parent = app.meta.get_snapshot(parent.id)
    digest = app.blobs.put_bytes(data)
    _, info = decode_state(data)
    body = SnapshotRecord("", world, (parent.id,), digest, len(data), info.frame_count, info.player_count,
                          parent.generation + 1, time.time(), {"kind": "save", "by": "test-fork"}).body()
    record = SnapshotRecord(id="", **{**body, "parents": tuple(body["parents"])}).sealed()
    return app.store.meta.commit_snapshot(record, head="main", expected=None)[0]


def chunks(data: bytes, size: int = 1 << 20) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def stored_id(app: Any, data: bytes) -> str:
    """The id the state file ``data`` has in ``app``'s blob store: the SHA-256 of its chunk manifest where the store
    keeps chunks, of its bytes where it keeps whole files (multiverse/crossing/stored.py)."""
    head = stored_header(data).data_start
    return state_id(app.blobs, [memoryview(data)[:head], memoryview(data)[head:]])


def stored_now(app: Any) -> set[str]:
    """Every blob digest and every chunked state's id (its manifest lives in the metadata) stored now."""
    with app.meta.transaction() as conn:
        states = set(conn.execute(sa.select(chunked_states.c.id)).scalars())
    return set(app.blobs.digests()) | states


def states_added(app: Any, before: set[str]) -> set[str]:
    """The states (whole files or chunked states' manifests) stored since ``before`` (``stored_now``); pack blobs
    are left out."""
    with app.meta.transaction() as conn:
        packs = set(conn.execute(sa.select(chunk_packs.c.digest)).scalars())
    return stored_now(app) - before - packs
