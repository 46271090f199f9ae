"""Server-side SVG charts for the gallery pages: pure functions from the read model's JSON to SVG markup.

The pages work without JavaScript, so a chart is drawn where the page is rendered. ``histogram`` draws where a
vector's score sits on its space's score distribution: the bars of the distribution (``edges``/``counts``, as
``GET /api/vectors/...`` gives them under ``distribution``), a dashed line at the lowest score of each tier, and a
marker at ``here``. Every number is formatted by this module and every text is escaped, so the markup is safe to
put in a page as is, whatever the data holds."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from html import escape
from typing import Any

WIDTH, HEIGHT = 800, 250
LABEL_ROWS, ROW_HEIGHT = 3, 15  # tier labels stack in up to this many rows above the bars
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 8, 8, 12 + LABEL_ROWS * ROW_HEIGHT, 34
CHAR_WIDTH = 7.2  # of the 12-unit font, roughly: enough to keep labels apart
MAX_BARS = 400  # a distribution with more bins is drawn with this many (summed neighbours): bounded markup
TIER_COLORS = {"common": "#8a8f98", "uncommon": "#2f9e44", "rare": "#1c7ed6", "epic": "#9c36b5",
               "legendary": "#e8590c"}


def _num(value: Any) -> float | None:
    """``value`` as a finite float, or None (NaN, infinity, text, None)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _label_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def _merge(edges: list[float], counts: list[float]) -> tuple[list[float], list[float]]:
    """At most MAX_BARS bins, summing runs of neighbouring bins."""
    if len(counts) <= MAX_BARS:
        return edges, counts
    step = math.ceil(len(counts) / MAX_BARS)
    merged = [sum(counts[i:i + step]) for i in range(0, len(counts), step)]
    return [edges[i] for i in range(0, len(counts), step)] + [edges[-1]], merged


def histogram(distribution: Mapping[str, Any] | None, *, title: str = "score distribution") -> str:
    """An SVG of ``distribution`` = {edges: [n+1 scores], counts: [n], tiers: [{name, lower_percentile, score}],
    here: a score or None}: bars (height ~ count), a dashed line and label per tier boundary inside the range, a
    marker at ``here`` (clamped into the range). Bars are equally wide, each score placed linearly within its bin.
    With no bins (nothing scored yet), an SVG saying so."""
    distribution = distribution or {}
    edges = [_num(e) for e in distribution.get("edges") or ()]
    counts = [max(_num(c) or 0.0, 0.0) for c in distribution.get("counts") or ()]
    label = escape(title)
    head = (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="{label}"><title>{label}</title>')
    if len(counts) == 0 or len(edges) != len(counts) + 1 or any(e is None for e in edges) or edges[-1] <= edges[0]:
        return (head + f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" class="chart-empty">'
                'no scores yet in this space</text></svg>')
    edges_f, counts = _merge([float(e) for e in edges if e is not None], counts)
    if any(b < a for a, b in zip(edges_f, edges_f[1:])):
        edges_f = sorted(edges_f)  # edges out of order would misplace every mark; sorted, they are still bounds
    lo, hi = edges_f[0], edges_f[-1]
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = max(counts) or 1.0

    bar_w = plot_w / len(counts)

    def x_of(score: float) -> float:
        """Bars are equally wide whatever their bins' widths (the read model may end with one wide bin for the
        rare tail): a score is placed within its bin, linearly."""
        score = min(max(score, lo), hi)
        i = max(bisect.bisect_right(edges_f, score) - 1, 0)
        if i >= len(counts):
            return PAD_LEFT + plot_w
        width = edges_f[i + 1] - edges_f[i]
        return PAD_LEFT + (i + ((score - edges_f[i]) / width if width > 0 else 0.0)) * bar_w

    parts = [head, '<g class="bars" fill="#9aa4b2">']
    base = PAD_TOP + plot_h
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        h = max(count / top * plot_h, 1.0)
        parts.append(f'<rect x="{_fmt(PAD_LEFT + i * bar_w)}" y="{_fmt(base - h)}" '
                     f'width="{_fmt(max(bar_w - 1.0, 0.5))}" height="{_fmt(h)}"/>')
    parts.append("</g>")
    parts.append(f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}" stroke="#444"/>')
    rows: list[float] = []  # per label row, where its last label ends: labels never overlap
    for tier in distribution.get("tiers") or ():
        score = _num(tier.get("score")) if isinstance(tier, Mapping) else None
        if score is None or not lo < score < hi or not _num(tier.get("lower_percentile")):
            continue  # outside the range, or the lowest tier (its bound is the minimum: nothing to mark)
        name = str(tier.get("name", ""))[:40]
        color = TIER_COLORS.get(name, "#555")
        x = x_of(score)
        half = _label_width(name) / 2
        centre = min(max(x, PAD_LEFT + half), WIDTH - PAD_RIGHT - half)
        row = next((i for i, end in enumerate(rows) if centre - half > end + 4), len(rows))
        if row == LABEL_ROWS:
            row = LABEL_ROWS - 1  # more boundaries than rows crowded into one place: the last row takes them
        if row < len(rows):
            rows[row] = centre + half
        else:
            rows.append(centre + half)
        y = PAD_TOP - 8 - row * ROW_HEIGHT
        parts.append(f'<g class="tier"><line x1="{_fmt(x)}" y1="{y + 3}" x2="{_fmt(x)}" y2="{base}" '
                     f'stroke="{color}" stroke-dasharray="4 3"/><text x="{_fmt(centre)}" y="{y}" '
                     f'text-anchor="middle" fill="{color}">{escape(name)}</text></g>')
    here = _num(distribution.get("here"))
    taken = (-1.0, -1.0)  # where "this vector" is written under the axis
    if here is not None:
        x = x_of(here)
        half = _label_width("this vector") / 2
        centre = min(max(x, PAD_LEFT + half), WIDTH - PAD_RIGHT - half)
        taken = (centre - half, centre + half)
        parts.append(f'<g class="here"><line x1="{_fmt(x)}" y1="{PAD_TOP}" x2="{_fmt(x)}" y2="{base}" '
                     f'stroke="#d6336c" stroke-width="3"/><polygon points="{_fmt(x)},{base + 2} {_fmt(x - 6)},'
                     f'{base + 12} {_fmt(x + 6)},{base + 12}" fill="#d6336c"/><text x="{_fmt(centre)}" '
                     f'y="{base + 26}" text-anchor="middle" fill="#d6336c">this vector</text></g>')
    low, high = escape(f"{lo:.3g}"), escape(f"{hi:.3g}")
    if PAD_LEFT + _label_width(low) + 4 < taken[0] or taken[0] < 0:
        parts.append(f'<text x="{PAD_LEFT}" y="{base + 26}" class="axis">{low}</text>')
    if WIDTH - PAD_RIGHT - _label_width(high) - 4 > taken[1]:
        parts.append(f'<text x="{WIDTH - PAD_RIGHT}" y="{base + 26}" text-anchor="end" class="axis">{high}</text>')
    parts.append("</svg>")
    return "".join(parts)

