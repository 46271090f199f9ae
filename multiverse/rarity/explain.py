"""Why a stored vector scores as it does: its nearest stored vectors, and where it differs most from them.

A rarity score says *that* a vector lies in a sparse region; an explanation says *where*. Against its k nearest
stored neighbours (the ones its score is computed from), each value of the vector gets a z-score: its deviation
from the neighbours' mean over their spread. The explanation keeps

- ``dims``: the few values with the largest |z|, signed (above or below the neighbourhood), each with its
  position in the vector's shape (channel, row, column for a C,H,W frame);
- ``cells``: for a frame with a spatial shape, a small grid (at most ``GRID`` x ``GRID``) of the root mean square
  z over each cell's values (all channels): a heat map the gallery draws over the picture.

It works in the raw space (the values as saved), not the embedded one: a projection mixes every position into
every coordinate, so only raw values can name a channel or a cell. A discrete (token id) space has no mean: there
a value's figure is the share of neighbours holding another token at that position (``basis`` "tokens").

The spread is floored (``FLOOR`` times the neighbourhood's typical spread), so that a value on which the
neighbours happen to agree exactly does not outrank a real difference by a division by almost zero.

Cost is bounded: one vector and its k neighbours (``explain`` is pure); ``explain_stored`` reads at most k + 1
snapshot states from the blob store, each once. Ad hoc scores (``Score``) carry none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from multiverse.errors import NotFound
from multiverse.rarity.types import Neighbor, VectorId
from multiverse.store.auth import Principal

TOP_DIMS = 5  # values named per explanation
GRID = 8  # at most GRID x GRID cells
FLOOR = 0.1  # the spread floor, as a share of the neighbourhood's root mean square spread
LAYOUTS = ("CHW", "HWC")  # SpaceRecord.reference["layout"]; "" guesses (channels first unless clearly last)


@dataclass(frozen=True)
class Deviation:
    """One value of the vector against its neighbourhood: z = (value - mean) / spread (floored); for tokens,
    z is the share of neighbours holding another token, ``mean`` their most common token."""

    index: int  # flat position in the vector
    position: tuple[int, ...]  # the same position in the vector's shape
    value: float
    mean: float
    std: float
    z: float

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "position": list(self.position), "value": _finite(self.value),
                "mean": _finite(self.mean), "std": _finite(self.std), "z": _finite(self.z)}


@dataclass(frozen=True)
class Cells:
    """A heat map over a frame's spatial grid: ``values[r * cols + c]`` for the cell of rows
    ``row_edges[r]:row_edges[r+1]`` and columns ``col_edges[c]:col_edges[c+1]`` of the frame's (H, W)."""

    rows: int
    cols: int
    values: tuple[float, ...]
    row_edges: tuple[int, ...]
    col_edges: tuple[int, ...]

    def hottest(self) -> tuple[int, int]:
        """(row, column) of the cell that differs most."""
        r, c = divmod(int(np.argmax(self.values)), self.cols)
        return r, c

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "cols": self.cols, "values": [_finite(v) for v in self.values],
                "row_edges": list(self.row_edges), "col_edges": list(self.col_edges),
                "max": _finite(max(self.values, default=0.0))}


@dataclass(frozen=True)
class Explanation:
    """A stored vector's nearest stored neighbours (ids and embedded distances, nearest first) and what makes it
    surprising against them (see the module docstring). ``dims`` empty and ``cells`` None with no neighbours."""

    neighbors: tuple[Neighbor, ...]
    basis: str  # "raw" (z-scores of saved values) or "tokens" (disagreement shares)
    dims: tuple[Deviation, ...]
    cells: Cells | None

    def to_json(self) -> dict[str, Any]:
        return {
            "neighbors": [{"snapshot": n.id.snapshot, "kind": n.id.kind, "index": n.id.index,
                           "distance": _finite(n.distance), "copies": n.copies} for n in self.neighbors],
            "basis": self.basis,
            "dims": [d.to_json() for d in self.dims],
            "cells": self.cells.to_json() if self.cells is not None else None,
        }


def spatial_axes(shape: tuple[int, ...], layout: str = "") -> tuple[int, int] | None:
    """The (row, column) axes of a frame of ``shape``, or None when it has no spatial grid (fewer than 2 axes).
    ``layout`` "CHW" takes the last two axes, "HWC" the two before the last; "" takes the last two unless the
    last is a small channel axis (at most 4) beside two larger ones."""
    n = len(shape)
    if n < 2:
        return None
    if n == 2:
        return 0, 1
    if layout == "HWC" or (not layout and shape[-1] <= 4 < min(shape[-3], shape[-2])):
        return n - 3, n - 2
    return n - 2, n - 1


def explain(x: np.ndarray, near: np.ndarray, shape: tuple[int, ...], *, discrete: bool = False,
            layout: str = "", top: int = TOP_DIMS, grid: int = GRID,
            neighbors: tuple[Neighbor, ...] = ()) -> Explanation:
    """Explain vector ``x`` (``shape``, or flat) against its neighbours ``near`` (k, *shape or flat). Pure."""
    flat = np.asarray(x).reshape(-1)
    others = np.asarray(near).reshape(len(near), -1) if len(near) else np.zeros((0, flat.size))
    if others.shape[1] != flat.size or int(np.prod(shape)) != flat.size:
        raise ValueError(f"x has {flat.size} values, neighbours {others.shape[1]}, shape {shape} holds "
                         f"{int(np.prod(shape))}")
    basis = "tokens" if discrete else "raw"
    if not len(others):
        return Explanation(tuple(neighbors), basis, (), None)
    if discrete:
        strength, value, mean, std, z = _tokens(flat, others)
    else:
        strength, value, mean, std, z = _zscores(flat, others)
    order = np.argsort(-strength, kind="stable")[: max(0, top)]
    dims = tuple(Deviation(int(i), tuple(int(p) for p in np.unravel_index(int(i), shape)), float(value[i]),
                           float(mean[i]), float(std[i]), float(z[i])) for i in order)
    return Explanation(tuple(neighbors), basis, dims, _cells(strength, shape, layout, grid))


def _zscores(x: np.ndarray, near: np.ndarray) -> tuple[np.ndarray, ...]:
    """(|z|, x, mean, spread, z) per value; z against the neighbours' mean and floored spread."""
    x, near = x.astype(np.float64), near.astype(np.float64)
    mean, std = near.mean(axis=0), near.std(axis=0)
    typical = float(np.sqrt(np.mean(std * std)))
    if typical == 0.0:  # one neighbour, or copies: no spread at all; fall back to the deviation's own scale
        typical = float(np.sqrt(np.mean((x - mean) ** 2))) or 1.0
    spread = np.sqrt(std * std + (FLOOR * typical) ** 2)
    z = (x - mean) / spread
    return np.abs(z), x, mean, std, z


def _tokens(x: np.ndarray, near: np.ndarray) -> tuple[np.ndarray, ...]:
    """(disagreement share, token, the neighbours' most common token, 0, share) per position."""
    x, near = x.astype(np.int64), near.astype(np.int64)
    share = (near != x[None, :]).mean(axis=0)
    order = np.sort(near, axis=0)  # (k, L): the most common token per column is the longest run
    k = len(near)
    runs = np.ones_like(order)
    for i in range(1, k):
        runs[i] = np.where(order[i] == order[i - 1], runs[i - 1] + 1, 1)
    mode = np.take_along_axis(order, np.argmax(runs, axis=0)[None, :], axis=0)[0]
    return share, x.astype(np.float64), mode.astype(np.float64), np.zeros(len(x)), share


def _cells(strength: np.ndarray, shape: tuple[int, ...], layout: str, grid: int) -> Cells | None:
    """Root mean square of ``strength`` over the values of each cell of the frame's spatial grid."""
    axes = spatial_axes(shape, layout)
    if axes is None or grid < 1:
        return None
    s2 = np.moveaxis((strength.astype(np.float64) ** 2).reshape(shape), axes, (-2, -1))
    h, w = s2.shape[-2:]
    plane = s2.reshape(-1, h, w).mean(axis=0)  # (H, W): mean over channels (and any other axis)
    row_edges = _edges(h, grid)
    col_edges = _edges(w, grid)
    sums = np.add.reduceat(np.add.reduceat(plane, row_edges[:-1], axis=0), col_edges[:-1], axis=1)
    sizes = np.outer(np.diff(row_edges), np.diff(col_edges))
    values = np.sqrt(sums / sizes)
    return Cells(len(row_edges) - 1, len(col_edges) - 1, tuple(float(v) for v in values.ravel()),
                 tuple(int(e) for e in row_edges), tuple(int(e) for e in col_edges))


def _edges(length: int, grid: int) -> np.ndarray:
    """Edges of min(length, grid) near-equal parts of range(length)."""
    parts = min(length, grid)
    return np.round(np.linspace(0, length, parts + 1)).astype(np.int64)


def explain_stored(visible: Any, who: Principal, vid: VectorId, *, k: int = 0, top: int = TOP_DIMS,
                   grid: int = GRID) -> Explanation:
    """The explanation of stored vector ``vid`` for ``who``: against its ``k`` (0: the engine's k) nearest
    neighbours among the worlds ``who`` may read (``visible``: a ``VisibleRarity``; NotFound as for its
    ``neighbors`` when ``who`` may not read ``vid``), from the saved values of the vector and of each
    neighbour's first id (at most k + 1 snapshot states read, each once)."""
    from multiverse.rarity.sync import snapshot_vectors  # reads state blobs (torch): only when asked

    found = tuple(visible.neighbors(who, vid, k=k))
    rarity = visible.rarity
    space = rarity.meta.get_space(rarity.space_of(vid.snapshot))
    states: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def value(v: VectorId) -> np.ndarray | None:
        if v.snapshot not in states:
            states[v.snapshot] = snapshot_vectors(rarity.blobs, rarity.meta.get_snapshot(v.snapshot), space)
        frames, players = states[v.snapshot]
        rows = frames if v.kind == "frame" else players
        return rows[v.index] if rows is not None and 0 <= v.index < len(rows) else None

    shape = tuple(space.frame_shape) if vid.kind == "frame" else (space.player_dim,)
    x = value(vid)
    if x is None:
        raise NotFound(f"{vid.kind} {vid.index} of snapshot {vid.snapshot} is not in its saved state: check the kind "
                       "and index", snapshot=vid.snapshot)
    pairs = [(n, value(n.id)) for n in found]
    found = tuple(n for n, v in pairs if v is not None)  # a neighbour whose state lacks it (none should) is left out
    near = np.stack([v for _, v in pairs if v is not None]) if found else np.zeros((0, *shape))
    layout = str((space.reference or {}).get("layout", "")).upper()
    return explain(x, near, shape, discrete=space.discrete and vid.kind == "frame",
                   layout=layout if layout in LAYOUTS else "", top=top, grid=grid, neighbors=found)


def _finite(x: float) -> float:
    x = float(x)
    return x if x == x and abs(x) != float("inf") else 0.0
