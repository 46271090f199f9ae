"""Synthetic but valid states for a latent space: for tests, benchmarks and `multiverse snapshot synth`."""

from __future__ import annotations

import uuid

import torch

from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state

TEXTS = ("a storm rolls in from the west", "night falls", "the river floods the valley", "a village appears")


def synth_state(space: SpaceRecord, *, frames: int, players: int, seed: int) -> bytes:
    """A state file of ``frames`` frames and ``players`` players drawn from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    shape = (frames, *space.frame_shape)
    if space.discrete:
        x = torch.randint(0, space.vocab_size, shape, generator=g, dtype=torch.int64).to(getattr(torch, space.dtype))
    else:
        x = torch.randn(shape, generator=g, dtype=torch.float32).to(getattr(torch, space.dtype))
    vectors = torch.randn((players, space.player_dim), generator=g, dtype=torch.float32)
    people = [_player(i, seed, g) for i in range(players)]
    timeline = [{"frame": f, "text": TEXTS[i % len(TEXTS)]} for i, f in enumerate(range(0, frames, max(1, frames // 4)))]
    return encode_state(x, vectors, space=space.name, players=people, timeline=timeline)


def _player(i: int, seed: int, g: torch.Generator) -> dict:
    pos = (torch.rand(3, generator=g) * 200 - 100).tolist()
    return {
        "uuid": str(uuid.UUID(int=(seed << 32) + i + 1, version=4)),
        "name": f"player{i}",
        "stats": {
            "Health": 20.0,
            "foodLevel": 20,
            "XpLevel": i,
            "Pos": [round(p, 3) for p in pos],
            "Rotation": [0.0, 0.0],
            "Dimension": "minecraft:overworld",
            "Inventory": [{"Slot": 0, "id": "minecraft:diamond_pickaxe", "count": 1}],
        },
    }
