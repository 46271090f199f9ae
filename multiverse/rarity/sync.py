"""Keeping the rarity engines in step with the store: which snapshots exist, what vectors a snapshot holds,
where the persisted engines are. The I/O edge of the rarity package (metadata and blob reads); no scoring here.

- ``space_snapshots`` lists every snapshot of a latent space from metadata, oldest first (the replay order of a
  rebuild, so the first id of each vector is its discoverer as it was on the incremental path).
- ``snapshot_vectors`` reads a snapshot's state blob and returns its frames and player vectors as numpy.
- ``LegacyPointers`` reads the JSON file that named each space's persisted engine manifest before the
  metadata held those pointers (migration 0003).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.read import read_state

def space_snapshots(meta: Any, space: str, page: int = 1000) -> list[SnapshotRecord]:
    """Every snapshot reachable from a head of a world of ``space``, oldest first (created_at, then id)."""
    seen: dict[str, SnapshotRecord] = {}
    after = ""
    while True:
        worlds = meta.list_worlds(space=space, after=after, limit=page)
        for world in worlds:
            for head in meta.heads(world.name).values():
                if head in seen:
                    continue
                cursor = ""
                while True:
                    records, cursor = meta.log(head, limit=page, cursor=cursor)
                    fresh = [r for r in records if r.id not in seen]
                    seen.update((r.id, r) for r in fresh)
                    if not cursor or not fresh:
                        break
        if len(worlds) < page:
            break
        after = worlds[-1].name
    return sorted(seen.values(), key=lambda r: (r.created_at, r.id))


def snapshot_vectors(blobs: Any, record: SnapshotRecord, space: SpaceRecord) -> tuple[np.ndarray, np.ndarray | None]:
    """(frames (T, *frame_shape), player vectors (P, player_dim) or None) of a stored snapshot: float32, or
    int64 token ids in a discrete space."""
    tensors, _ = read_state(blobs, record.state, record.state_size)  # views, verified; converted below
    frames = tensors["frames"]
    frames = frames.to(torch.int64) if space.discrete else frames.to(torch.float32)
    players = tensors.get("players")
    vectors = None
    if players is not None and players.numel() and space.player_dim:
        vectors = players.to(torch.float32).reshape(players.shape[0], -1).numpy()
    return frames.numpy(), vectors


class LegacyPointers:
    """``{space: manifest digest}`` from the JSON file where releases before metadata migration 0003 kept them
    (read-only now: the pointers live in the metadata). A missing or unreadable file reads as no pointers: that
    costs a rebuild, never a wrong score, as the manifests are content-addressed blobs checked on load."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
        spaces = data.get("spaces") if isinstance(data, dict) else None
        return {str(k): str(v) for k, v in spaces.items()} if isinstance(spaces, dict) else {}


def iter_batches(meta: Any, blobs: Any, space: SpaceRecord) -> Iterator[tuple]:
    """A rebuild's source: (kind, vectors, snapshot, world, None) for every stored snapshot of ``space``."""
    for record in space_snapshots(meta, space.name):
        frames, players = snapshot_vectors(blobs, record, space)
        yield "frame", frames, record.id, record.world, None
        if players is not None:
            yield "player", players, record.id, record.world, None
