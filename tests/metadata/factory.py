"""Records for the metadata tests: real snapshot ids (sha256 of the body), generations from the parents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from multiverse.records import SnapshotRecord, SpaceRecord, WorldRecord

STATE = "5e" * 32  # sha256 hex of a (pretend) state blob

SPACE = SpaceRecord(
    name="tileworld-v1",
    frame_shape=(16, 18, 32),
    dtype="float16",
    player_dim=64,
    model="tileworld",
    version="1.0",
    max_players=8,
    reference={"mean": [0.0, 0.25, -1.5], "std": [1.0, 2.0, 0.5], "norm": 3.25, "labels": {"a": "b"}},
    decoder="tile-preview",
    created_at=1712345678.123456,
)


def world(name: str = "w", *, owner: str = "server-1", space: str = SPACE.name, **kw: Any) -> WorldRecord:
    return WorldRecord(name=name, space=space, owner=owner, **kw)


def snap(
    world: str = "w",
    parents: Sequence[SnapshotRecord] = (),
    *,
    t: float = 1.0,
    state: str = STATE,
    generation: int | None = None,
    **provenance: Any,
) -> SnapshotRecord:
    """A snapshot of ``world`` with ``parents``; ``generation`` defaults to the right one."""
    gen = generation if generation is not None else 1 + max((p.generation for p in parents), default=0)
    body = {
        "world": world,
        "parents": [p.id for p in parents],
        "state": state,
        "state_size": 1234,
        "frame_count": 12,
        "player_count": 2,
        "generation": gen,
        "created_at": t,
        "provenance": provenance,
    }
    fields = {k: v for k, v in body.items() if k != "parents"}
    return SnapshotRecord(id="", parents=tuple(p.id for p in parents), **fields).sealed()
