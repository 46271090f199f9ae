"""The chart of a vector that has no decoder (a player vector, a frame of a space without one): a picture that
still tells vectors apart. Pure: arrays in, PNG bytes out, the same bytes for the same arrays (Pillow, no text,
no fonts, no metadata in the file).

    +---------------------------------------+
    |  .  .:. :.  the population's sample   |   the plane: its place among the space's vectors (projection.View),
    |   .:::.  o--o  neighbours             |   its nearest neighbours joined to it by lines
    |    ':.      \\                        |
    |               O  the vector           |   (without a View: the vector's values as a grid of cells)
    +---------------------------------------+
    | ▂▅▇▃▁ ▁▃  its values, binned, as bars  |
    +---------------------------------------+

The image has a fixed size whatever the vector's length: values are binned (mean per bin) to at most ``BARS``
bars and ``CELLS`` cells, so a huge frame costs a bounded picture.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from multiverse.pictures.projection import View

WIDTH, PLANE_HEIGHT, STRIP_HEIGHT = 384, 240, 64
BARS = 96  # at most this many bars in the strip
CELLS = (32, 12)  # at most this many cells (columns, rows) in the grid drawn when there is no plane
MARGIN = 14
BACKGROUND, PANEL, AXIS = (17, 24, 39), (11, 15, 25), (55, 65, 81)
BACKDROP, NEIGHBOUR, HERE, RING = (107, 114, 128), (96, 165, 250), (251, 146, 60), (255, 237, 213)
NEGATIVE, POSITIVE = (59, 130, 246), (249, 115, 22)


def chart_png(values: np.ndarray, view: View | None) -> bytes:
    """PNG bytes of the chart of a vector with ``values`` (any shape, flattened) at ``view`` (None: the values as a
    grid of cells instead of the plane)."""
    flat = np.nan_to_num(np.asarray(values, dtype=np.float64).ravel(), nan=0.0, posinf=0.0, neginf=0.0)
    image = Image.new("RGB", (WIDTH, PLANE_HEIGHT + STRIP_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH - 1, PLANE_HEIGHT - 1), fill=PANEL)
    if view is not None:
        _plane(draw, view)
    else:
        _cells(draw, flat)
    _strip(draw, flat)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def binned(values: np.ndarray, bins: int) -> np.ndarray:
    """The mean of each of ``min(bins, len(values))`` contiguous, near-equal runs of ``values`` (1-D)."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    edges = np.linspace(0, n, min(bins, n) + 1).round().astype(np.int64)
    sums = np.add.reduceat(values, edges[:-1])
    return sums / np.diff(edges)


def _plane(draw: ImageDraw.ImageDraw, view: View) -> None:
    shown = np.concatenate([view.here[None], view.neighbours])
    lo, hi = _bounds(view.backdrop, shown)
    scale = np.array([WIDTH - 2 * MARGIN, PLANE_HEIGHT - 2 * MARGIN]) / (hi - lo)

    def px(p: np.ndarray) -> tuple[float, float]:
        x, y = (np.clip(p, lo, hi) - lo) * scale
        return MARGIN + float(x), PLANE_HEIGHT - MARGIN - float(y)  # y grows upwards

    ox, oy = px(np.zeros(2))
    draw.line((MARGIN, oy, WIDTH - MARGIN, oy), fill=AXIS)
    draw.line((ox, MARGIN, ox, PLANE_HEIGHT - MARGIN), fill=AXIS)
    for p in view.backdrop:
        x, y = px(p)
        draw.rectangle((x - 1, y - 1, x + 1, y + 1), fill=BACKDROP)
    hx, hy = px(view.here)
    for p in view.neighbours[::-1]:  # the nearest drawn last, on top
        x, y = px(p)
        draw.line((hx, hy, x, y), fill=NEIGHBOUR, width=1)
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=NEIGHBOUR)
    draw.ellipse((hx - 9, hy - 9, hx + 9, hy + 9), outline=RING, width=2)
    draw.ellipse((hx - 6, hy - 6, hx + 6, hy + 6), fill=HERE)


def _bounds(backdrop: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box drawn: the backdrop's 1st to 99th percentile on each axis, grown to hold every shown point, with a
    little room around; never empty."""
    points = np.concatenate([np.percentile(backdrop, [1, 99], axis=0), shown]) if len(backdrop) else shown
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.maximum(hi - lo, 1e-6 * np.maximum(1.0, np.abs(points).max()))
    return lo - 0.06 * span, hi + 0.06 * span


def _cells(draw: ImageDraw.ImageDraw, flat: np.ndarray) -> None:
    columns, rows = CELLS
    cells = binned(flat, columns * rows)
    if not len(cells):
        return
    columns = min(columns, len(cells))
    rows = -(-len(cells) // columns)
    width, height = (WIDTH - 2 * MARGIN) / columns, (PLANE_HEIGHT - 2 * MARGIN) / rows
    peak = float(np.abs(cells).max()) or 1.0
    for i, v in enumerate(cells):
        r, c = divmod(i, columns)
        x, y = MARGIN + c * width, MARGIN + r * height
        draw.rectangle((x, y, x + width - 2, y + height - 2), fill=_color(v / peak))


def _strip(draw: ImageDraw.ImageDraw, flat: np.ndarray) -> None:
    bars = binned(flat, BARS)
    middle, reach = PLANE_HEIGHT + STRIP_HEIGHT // 2, STRIP_HEIGHT // 2 - 4
    draw.line((0, middle, WIDTH, middle), fill=AXIS)
    if not len(bars):
        return
    peak = float(np.abs(bars).max()) or 1.0
    width = WIDTH / len(bars)
    for i, v in enumerate(bars):
        h = round(reach * abs(v) / peak)
        x = i * width
        top, bottom = (middle - h, middle) if v >= 0 else (middle, middle + h)
        draw.rectangle((x + 0.5, top, x + max(width - 1.5, 0.5), bottom), fill=POSITIVE if v >= 0 else NEGATIVE)


def _color(v: float) -> tuple[int, int, int]:
    """A diverging colour for ``v`` in [-1, 1]: blue below zero, orange above, grey near zero."""
    end = POSITIVE if v >= 0 else NEGATIVE
    t = min(1.0, abs(v))
    return tuple(round(a + (b - a) * t) for a, b in zip(AXIS, end))  # type: ignore[return-value]
