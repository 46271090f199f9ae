"""Shared parts of the multi-worker rarity tests: small spaces, committing real states straight through the metadata
(as the store does: the state blob first, then the record), and the exactly-once check of a persisted index."""

from __future__ import annotations

import time

from multiverse.rarity.engine import RarityEngine
from multiverse.records import SnapshotRecord, SpaceRecord, WorldRecord
from multiverse.state.synth import synth_state

SPACES = [SpaceRecord(f"s{i}", (4, 3, 2), "float16", 8) for i in range(3)]


def setup(meta) -> None:
    for space in SPACES:
        meta.put_space(space)
        meta.create_world(WorldRecord(name=f"w-{space.name}", space=space.name, owner="server-1"))


def commit(meta, blobs, space: SpaceRecord, seed: int, frames: int = 6, players: int = 2) -> SnapshotRecord:
    """Save a synthetic state on ``w-<space>@main``."""
    world = f"w-{space.name}"
    state = synth_state(space, frames=frames, players=players, seed=seed)
    head = meta.get_head(world, "main")
    generation = meta.get_snapshot(head).generation + 1 if head else 1
    record = SnapshotRecord("", world, (head,) if head else (), blobs.put_bytes(state), len(state), frames, players,
                            generation, time.time(), {}).sealed()
    return meta.commit_snapshot(record, head="main", expected=head)[0]


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def check_exactly_once(meta, blobs) -> None:
    """Every committed snapshot is in its space's persisted index once: as many keys as it has vectors (a snapshot
    scored twice into one index has twice as many), and the pointer covers the space's last commit."""
    pointers = meta.rarity_pointers()
    for space in SPACES:
        records = meta.commits_after(0, 1000, space=space.name)
        if not records:
            continue
        pointer = pointers[space.name]
        assert pointer.seq == records[-1].seq, (space.name, pointer.seq, records[-1].seq)
        engine = RarityEngine.load(blobs, pointer.manifest)
        for r in records:
            frames = len(engine.population("frame").registry.snapshot_keys(r.id))
            players = len(engine.population("player").registry.snapshot_keys(r.id))
            assert (frames, players) == (r.frame_count, r.player_count), (space.name, r.seq, frames, players)
