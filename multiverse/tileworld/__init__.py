"""tileworld: the reference world model of Multiverse: Minecraft-like top-down tile maps and a small VAE.

    maps = generate_maps(range(4))                 # uint8 (4, 32, 32) tile ids, deterministic by seed
    world = simulate_world(seed=7, ticks=16)       # players dig and build: world.maps (16, 32, 32)
    latents = encode_maps(world.maps)              # float32 torch (16, 8, 8, 8): frames for the store
    tiles = decode_latents(latents)                # uint8 (16, 32, 32)
    render_png(tiles, "world.png")                 # a film strip of the frames
    plausibility(tiles)                            # share of tiles with terrain-like neighbourhoods
    space_spec()                                   # the latent space "tileworld-v1" as a plain dict

Train the weights with ``python -m multiverse.tileworld.train``. Map generation needs ``opensimplex``;
encoding, decoding and rendering need only torch, numpy and safetensors.
"""

from .latents import (
    SPACE_NAME,
    TileModel,
    decode_latents,
    default_model,
    encode_maps,
    load_model,
    space_spec,
)
from .motion import WorldRun, edit_map, simulate_world
from .plausibility import collect_patterns, plausibility, plausible_tiles
from .render import png_bytes, render_png, tiles_to_rgb
from .terrain import MAP_SIZE, generate_map, generate_maps, generate_region
from .tiles import NUM_TILES, PALETTE, TILE_IDS, TILES, Tile, tile_name

__all__ = [
    "MAP_SIZE",
    "NUM_TILES",
    "PALETTE",
    "SPACE_NAME",
    "TILES",
    "TILE_IDS",
    "Tile",
    "TileModel",
    "WorldRun",
    "collect_patterns",
    "decode_latents",
    "default_model",
    "edit_map",
    "encode_maps",
    "generate_map",
    "generate_maps",
    "generate_region",
    "load_model",
    "plausibility",
    "plausible_tiles",
    "png_bytes",
    "render_png",
    "simulate_world",
    "space_spec",
    "tile_name",
    "tiles_to_rgb",
]
