"""Pictures of tile maps: tiles -> RGB -> PNG, with a tiny dependency-free PNG writer (zlib + struct).

The writer emits 8-bit RGB, non-interlaced, filter type 0 (none) on every row: valid PNG that any
reader opens, and byte-identical for the same tiles.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .tiles import NUM_TILES, PALETTE


def tiles_to_rgb(tiles: np.ndarray, scale: int = 8) -> np.ndarray:
    """Tile ids (H, W), or (T, H, W) laid out left to right with a 1-tile gap, -> uint8 RGB image.

    Each tile becomes a ``scale x scale`` block. Returns (H*scale, W*scale, 3).
    """
    tiles = np.asarray(tiles)
    if tiles.ndim == 3:  # (T, H, W): a film strip, frames separated by a black gap
        t, h, w = tiles.shape
        strip = np.full((h, t * (w + 1) - 1), -1, dtype=np.int16)  # -1 = gap
        for i in range(t):
            strip[:, i * (w + 1) : i * (w + 1) + w] = tiles[i]
        tiles = strip
    if tiles.ndim != 2:
        raise ValueError(f"tiles must have shape (H, W) or (T, H, W), got {tiles.shape}")
    if tiles.size and (tiles.max() >= NUM_TILES or tiles.min() < -1):
        raise ValueError(f"tile ids must lie in [0, {NUM_TILES}), got range [{tiles.min()}, {tiles.max()}]")
    palette = np.vstack([PALETTE, np.zeros((1, 3), np.uint8)])  # index -1 -> black
    rgb = palette[tiles.astype(np.int64)]  # (H, W, 3)
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 RGB image (H, W, 3) as PNG bytes."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"png_bytes needs uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w, _ = rgb.shape
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # each row: filter byte 0, then RGB bytes
    raw[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit, colour type 2 (RGB)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def render_png(tiles: np.ndarray, path: str | Path, scale: int = 8) -> Path:
    """Write tiles (H, W) or a strip of frames (T, H, W) as a PNG picture at ``path``; returns the path."""
    path = Path(path)
    path.write_bytes(png_bytes(tiles_to_rgb(tiles, scale)))
    return path
