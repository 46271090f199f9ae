"""The gallery's server-side charts (services/http/charts.py) and the pages' display filters (pages_format.py):
pure functions, so tested without a server."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from services.http import charts
from services.http.pages_format import ether, event_text, hexid, top_share

SVG = "{http://www.w3.org/2000/svg}"


def _distribution(here: float = 7.5) -> dict:
    return {"edges": [float(i) for i in range(11)], "counts": [1, 5, 9, 20, 9, 5, 3, 2, 1, 1],
            "tiers": [{"name": "common", "lower_percentile": 0.0, "score": 0.0},
                      {"name": "rare", "lower_percentile": 90.0, "score": 6.0},
                      {"name": "legendary", "lower_percentile": 99.9, "score": 9.5}],
            "here": here}


def test_histogram_draws_bars_tiers_and_the_marker_where_the_score_sits() -> None:
    svg = ET.fromstring(charts.histogram(_distribution(7.5)))
    bars = svg.findall(f"{SVG}g[@class='bars']/{SVG}rect")
    assert len(bars) == 10
    heights = [float(b.get("height")) for b in bars]
    assert heights.index(max(heights)) == 3  # the tallest bar is the bin with the most vectors
    tiers = {t.find(f"{SVG}text").text: float(t.find(f"{SVG}line").get("x1"))
             for t in svg.findall(f"{SVG}g[@class='tier']")}
    assert set(tiers) == {"rare", "legendary"}  # the lowest tier's bound is the minimum: no line
    here = float(svg.find(f"{SVG}g[@class='here']/{SVG}line").get("x1"))
    assert tiers["rare"] < here < tiers["legendary"]  # 6.0 < 7.5 < 9.5, in plot coordinates
    left = charts.PAD_LEFT + 0.75 * (charts.WIDTH - charts.PAD_LEFT - charts.PAD_RIGHT)
    assert abs(here - left) < 0.1


def test_histogram_clamps_a_score_outside_the_range_and_bounds_its_bars() -> None:
    svg = ET.fromstring(charts.histogram({**_distribution(), "here": 1e9}))
    here = float(svg.find(f"{SVG}g[@class='here']/{SVG}line").get("x1"))
    assert here == charts.WIDTH - charts.PAD_RIGHT
    many = {"edges": [i / 10 for i in range(5001)], "counts": [1] * 5000, "tiers": [], "here": None}
    drawn = ET.fromstring(charts.histogram(many)).findall(f"{SVG}g[@class='bars']/{SVG}rect")
    assert 0 < len(drawn) <= charts.MAX_BARS


def test_histogram_tier_labels_never_overlap() -> None:
    crowded = {**_distribution(), "tiers": [{"name": n, "lower_percentile": p, "score": sc} for n, p, sc in
                                            (("uncommon", 50, 0.30), ("rare", 90, 0.35), ("epic", 99, 9.6),
                                             ("legendary", 99.9, 9.65))]}
    svg = ET.fromstring(charts.histogram(crowded))
    boxes = []
    for t in svg.findall(f"{SVG}g[@class='tier']/{SVG}text"):
        half = len(t.text) * charts.CHAR_WIDTH / 2
        boxes.append((float(t.get("y")), float(t.get("x")) - half, float(t.get("x")) + half))
        assert charts.PAD_LEFT - 0.01 <= boxes[-1][1] and boxes[-1][2] <= charts.WIDTH - charts.PAD_RIGHT + 0.01
    assert len(boxes) == 4
    for i, (y, a, b) in enumerate(boxes):
        for y2, a2, b2 in boxes[i + 1:]:
            assert y != y2 or b <= a2 or b2 <= a, "two tier labels overlap"


def test_histogram_of_nothing_scored_says_so() -> None:
    for empty in (None, {}, {"edges": [], "counts": []}, {"edges": [1, 1], "counts": [3]},
                  {"edges": [0, "nan"], "counts": [1]}):
        svg = charts.histogram(empty)
        ET.fromstring(svg)
        assert "no scores yet" in svg


def test_histogram_escapes_every_text() -> None:
    hostile = '<script>alert(1)</script>"&'
    svg = charts.histogram({**_distribution(), "tiers": [{"name": hostile, "score": 5.0}]}, title=hostile)
    ET.fromstring(svg)  # still well-formed
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert not re.search(r"NaN|inf", charts.histogram({**_distribution(), "here": float("nan")}))


def test_display_filters() -> None:
    assert ether("1500000000000000000") == "1.5"
    assert ether(10**18 * 3) == "3"
    assert ether("1") == "0.000000000000000001"
    assert ether("0") == "0" and ether("bogus") == "-"
    assert top_share(99.95) == "0.05%" and top_share(50) == "50%" and top_share(99.999) == "<0.01%"
    assert top_share(None) == "-"
    assert hexid("0x" + "ab" * 32) == "ab" * 32
    assert hexid(str(255)) == "0" * 62 + "ff"
    minted = {"name": "Transfer", "block_number": 7, "args": {"from": "0x" + "0" * 40, "to": "0x" + "ab" * 20}}
    assert event_text(minted) == "Minted to 0xababababab… in block 7"
    sold = {"name": "Sold", "block_number": 9, "args": {"buyer": "0x" + "cd" * 20, "price": str(10**18 // 4)}}
    assert event_text(sold) == "Sold to 0xcdcdcdcdcd… for 0.25 ETH in block 9"
