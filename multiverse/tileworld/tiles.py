"""The tile palette of tileworld: Minecraft block names, ids and fixed RGB colours. Pure data, no I/O.

A map is a ``uint8`` array ``[H, W]`` of tile ids (indices into ``TILES``). Natural terrain uses the
first eleven tiles; the last three appear only where players dig (``dirt``) or build (``oak_planks``,
``cobblestone``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """One tile kind: its id (the value stored in a map), Minecraft block name and RGB preview colour."""

    id: int
    name: str
    rgb: tuple[int, int, int]


TILES: tuple[Tile, ...] = (
    Tile(0, "water", (44, 88, 196)),
    Tile(1, "ice", (160, 200, 245)),
    Tile(2, "sand", (222, 208, 160)),
    Tile(3, "gravel", (164, 152, 142)),
    Tile(4, "grass_block", (110, 172, 64)),
    Tile(5, "oak_leaves", (46, 116, 30)),
    Tile(6, "spruce_leaves", (36, 76, 56)),
    Tile(7, "red_sand", (196, 112, 48)),
    Tile(8, "stone", (124, 124, 124)),
    Tile(9, "snow_block", (246, 250, 252)),
    Tile(10, "lava", (255, 60, 0)),
    Tile(11, "dirt", (128, 90, 62)),
    Tile(12, "oak_planks", (176, 140, 84)),
    Tile(13, "cobblestone", (78, 78, 78)),
)

NUM_TILES = len(TILES)
TILE_IDS: dict[str, int] = {t.name: t.id for t in TILES}
PALETTE = np.array([t.rgb for t in TILES], dtype=np.uint8)  # (NUM_TILES, 3)

WATER, ICE, SAND, GRAVEL, GRASS, OAK, SPRUCE, RED_SAND, STONE, SNOW, LAVA, DIRT, PLANKS, COBBLE = range(NUM_TILES)


def tile_name(tile_id: int) -> str:
    """The Minecraft block name of ``tile_id``."""
    return TILES[int(tile_id)].name
