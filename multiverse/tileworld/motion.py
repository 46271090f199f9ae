"""Worlds that change over ticks: players walk the map, dig and build, a few tiles per tick.

A world is a sequence of maps ``(T, H, W)``; encoded frame by frame it becomes the latent frames
``(T, C, h, w)`` that a game server saves. Each player walks a persistent random walk (mostly straight,
sometimes turning, bouncing off the map edge) and changes the tile under its feet once per tick:

- a *digger* leaves ``dirt`` on soft ground (grass, leaves, sand, snow, gravel) and ``cobblestone``
  on stone; it leaves water, ice and lava alone;
- a *builder* lays ``oak_planks`` on land and water (paths, bridges) and ``cobblestone`` on lava
  (as lava meeting water does in Minecraft).

So edits form connected trails, and at most ``players`` tiles change per tick. Pure numpy; deterministic
for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .terrain import MAP_SIZE, generate_map
from .tiles import COBBLE, DIRT, ICE, LAVA, NUM_TILES, PLANKS, STONE, WATER

_DIRS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])  # N, E, S, W as (drow, dcol)
_TURN_P = 0.25  # chance per tick that a player turns left or right

# What each role leaves on each tile kind: (NUM_TILES,) lookup tables of tile ids.
DIG = np.full(NUM_TILES, DIRT, dtype=np.uint8)
DIG[[WATER, ICE, LAVA]] = [WATER, ICE, LAVA]
DIG[STONE] = COBBLE
DIG[[DIRT, PLANKS, COBBLE]] = [DIRT, PLANKS, COBBLE]
BUILD = np.full(NUM_TILES, PLANKS, dtype=np.uint8)
BUILD[LAVA] = COBBLE
BUILD[COBBLE] = COBBLE


@dataclass(frozen=True)
class WorldRun:
    """A simulated world: ``maps`` (T, H, W) uint8 tiles per tick; ``positions`` (T, P, 2) int64 (row, col)
    of each player after its move in that tick; ``roles`` (P,) 0 = digger, 1 = builder."""

    maps: np.ndarray
    positions: np.ndarray
    roles: np.ndarray


class Players:
    """Mutable walkers over an ``(H, W)`` map. ``rng`` drives every choice, so runs replay exactly."""

    def __init__(self, rng: np.random.Generator, count: int, shape: tuple[int, int]) -> None:
        h, w = shape
        self.rng = rng
        self.shape = shape
        self.pos = np.stack([rng.integers(0, h, count), rng.integers(0, w, count)], axis=1)  # (P, 2)
        self.heading = rng.integers(0, 4, count)  # (P,) index into _DIRS
        self.roles = rng.integers(0, 2, count)  # (P,)

    def tick(self, tiles: np.ndarray) -> np.ndarray:
        """Move every player one tile and apply its action to ``tiles`` (H, W) in place. Returns ``tiles``."""
        h, w = self.shape
        for p in range(len(self.pos)):
            if self.rng.random() < _TURN_P:
                self.heading[p] = (self.heading[p] + self.rng.choice((-1, 1))) % 4
            nxt = self.pos[p] + _DIRS[self.heading[p]]
            if not (0 <= nxt[0] < h and 0 <= nxt[1] < w):  # bounce off the edge
                self.heading[p] = (self.heading[p] + 2) % 4
                nxt = self.pos[p] + _DIRS[self.heading[p]]
            self.pos[p] = nxt
            r, c = nxt
            table = BUILD if self.roles[p] else DIG
            tiles[r, c] = table[tiles[r, c]]
        return tiles


def simulate_world(seed: int, ticks: int = 16, players: int = 3, size: int = MAP_SIZE) -> WorldRun:
    """A world of ``ticks`` frames starting from ``generate_map(seed, size)``; frame 0 is the first tick's
    result. At most ``players`` tiles change from one frame to the next. Deterministic by seed."""
    if ticks < 1 or players < 0:
        raise ValueError(f"need ticks >= 1 and players >= 0, got ticks={ticks} players={players}")
    tiles = generate_map(seed, size)
    walkers = Players(np.random.default_rng([0x3A7E, int(seed)]), players, tiles.shape)
    maps, positions = [], []
    for _ in range(ticks):
        tiles = walkers.tick(tiles.copy())
        maps.append(tiles)
        positions.append(walkers.pos.copy())
    return WorldRun(np.stack(maps), np.stack(positions), walkers.roles.copy())


def edit_map(tiles: np.ndarray, rng: np.random.Generator, players: int = 3, ticks: int = 24) -> np.ndarray:
    """A copy of ``tiles`` (H, W) after ``players`` walk and act for ``ticks`` ticks (training augmentation)."""
    out = np.array(tiles, dtype=np.uint8, copy=True)
    walkers = Players(rng, players, out.shape)
    for _ in range(ticks):
        walkers.tick(out)
    return out
