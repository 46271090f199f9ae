"""Plausibility: how much a tile map looks like generated terrain, in [0, 1].

Definition (the overlapping model of WaveFunctionCollapse with N = 2): a *pattern* is a 2x2 window of
tiles, coded as ``((a * K + b) * K + c) * K + d`` for the window ``[[a, b], [c, d]]`` with ``K`` tile kinds.
The reference set holds every pattern seen in generated maps, with and without player edits (the
trainer collects it from its training regions and stores it beside the weights). A tile is *plausible*
when every 2x2 window inside the map that contains it is a seen pattern: those (up to four) windows
tile its 3x3 neighbourhood, so this checks the whole neighbourhood, piece by piece. ``plausibility``
is the share of plausible tiles.

Generated maps score about 0.99 or more (a fresh map may hold a pattern the reference never saw),
uniformly random tiles under 0.01; a decoder that invents forbidden neighbours (lava beside water,
snow beside sand, checkerboards) or salt-and-pepper specks on unusual backgrounds scores low.
"""

from __future__ import annotations

import numpy as np

from .tiles import NUM_TILES


def pattern_codes(tiles: np.ndarray) -> np.ndarray:
    """Codes of every 2x2 window: tiles (N, H, W) -> int64 (N, H-1, W-1)."""
    t = np.asarray(tiles).astype(np.int64)
    k = NUM_TILES
    return ((t[:, :-1, :-1] * k + t[:, :-1, 1:]) * k + t[:, 1:, :-1]) * k + t[:, 1:, 1:]


def collect_patterns(maps: np.ndarray) -> np.ndarray:
    """Sorted unique pattern codes seen in ``maps`` (N, H, W): int64 (P,)."""
    return np.unique(pattern_codes(maps))


def plausible_tiles(tiles: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Per-tile plausibility mask: tiles (H, W) or (N, H, W) -> bool of the same shape."""
    tiles = np.asarray(tiles)
    squeeze = tiles.ndim == 2
    if squeeze:
        tiles = tiles[None]
    if tiles.ndim != 3 or min(tiles.shape[1:]) < 2:
        raise ValueError(f"tiles must be (H, W) or (N, H, W) with H, W >= 2, got {tiles.shape}")
    seen = np.isin(pattern_codes(tiles), patterns)  # (N, H-1, W-1)
    n, h, w = tiles.shape
    pad = np.ones((n, h + 1, w + 1), dtype=bool)  # windows outside the map count as seen
    pad[:, 1:-1, 1:-1] = seen
    ok = pad[:, :-1, :-1] & pad[:, :-1, 1:] & pad[:, 1:, :-1] & pad[:, 1:, 1:]  # (N, H, W)
    return ok[0] if squeeze else ok


def plausibility(tiles: np.ndarray, patterns: np.ndarray | None = None) -> float:
    """Share of tiles whose 3x3 neighbourhood is made of seen 2x2 patterns; tiles (H, W) or (N, H, W).

    ``patterns`` defaults to the reference set stored with the committed weights.
    """
    if patterns is None:
        from .latents import reference_patterns

        patterns = reference_patterns()
    return float(plausible_tiles(tiles, patterns).mean())
