"""Keeping the rarity engines in step with the store: which snapshots exist, what vectors a snapshot holds,
where the persisted engines are. The I/O edge of the rarity package (metadata and blob reads); no scoring here.

- ``committed`` lists every committed snapshot of a latent space from metadata, in commit order (a rebuild's).
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

def committed(meta: Any, space: str, page: int = 1000) -> list[SnapshotRecord]:
    """Every committed snapshot of ``space``, in commit order (``Metadata.commits_after``), each with its seq: the
    replay order of a rebuild, so the first id of each vector is its discoverer as on the incremental path."""
    out: list[SnapshotRecord] = []
    while True:
        records = meta.commits_after(out[-1].seq if out else 0, page, space=space)
        out += records
        if len(records) < page:
            return out


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
    for record in committed(meta, space.name):
        frames, players = snapshot_vectors(blobs, record, space)
        yield "frame", frames, record.id, record.world, None
        if players is not None:
            yield "player", players, record.id, record.world, None
