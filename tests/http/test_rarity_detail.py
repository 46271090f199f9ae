"""Honest ranks and explanations in the gallery: every card of the JSON API carries its percentile's interval and
whether its tier is uncertain; a vector's explanation (public neighbours only) is built for the detail and drawn on
the vector page as a heat map and a bar list; the page marks an uncertain tier."""

from __future__ import annotations

from pathlib import Path

from multiverse.gallery import PUBLIC
from multiverse.gallery import detail as detail_of
from multiverse.rarity.calibrate import tier_of
from multiverse.rarity.types import VectorId
from services.http.pages_format import environment
from tests.http.stack import OUTLIER_FRAME, OUTLIER_PLAYER

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "http" / "templates"


def honest(card: dict) -> bool:
    low, p, high = card["percentile_low"], card["percentile"], card["percentile_high"]
    return low <= p <= high and card["tier_uncertain"] == (tier_of(low) != tier_of(high))


def test_every_card_carries_its_interval(http, gallery):
    for kind in ("frame", "player"):
        items = http.get("/api/rare", params={"kind": kind, "limit": 200}).json()["items"]
        assert items and all(honest(c) for c in items)
        assert any(c["tier_uncertain"] for c in items)  # ~50 vectors: the top tiers rest on few scores
    body = http.get(f"/api/vectors/{gallery.snapshots[1]}/frame/{OUTLIER_FRAME}").json()
    assert honest(body) and all(honest(n) for n in body["neighbors"])
    why = body["explanation"]  # the live detail explains itself (it once always answered null)
    assert why is not None and why["neighbors"] and why["dims"]


def test_the_explanation_names_public_neighbours_and_where_the_outlier_differs(gallery):
    g = gallery.gateway.extras["api"]
    vid = VectorId(gallery.snapshots[1], "frame", OUTLIER_FRAME)
    e = detail_of.explanation(g.visible, PUBLIC, vid)
    assert e["basis"] == "raw" and len(e["neighbors"]) == 10
    assert {n["snapshot"] for n in e["neighbors"]} <= set(gallery.snapshots)  # never the private world's
    assert all(d["z"] > 3 and d["value"] > d["mean"] for d in e["dims"])  # raised by 40 everywhere
    cells = e["cells"]
    assert (cells["rows"], cells["cols"], len(cells["values"])) == (3, 2, 6) and cells["max"] > 3
    player = detail_of.explanation(g.visible, PUBLIC, VectorId(gallery.snapshots[0], "player", OUTLIER_PLAYER))
    assert player["cells"] is None and all(d["z"] < -2 and d["value"] < d["mean"] for d in player["dims"])  # -40
    assert detail_of.explanation(g.visible, PUBLIC, VectorId(gallery.hidden, "frame", 0)) is None


def test_the_vector_page_draws_the_explanation_and_an_uncertain_tier(http, gallery):
    snap = gallery.snapshots[1]
    v = http.get(f"/api/vectors/{snap}/frame/{OUTLIER_FRAME}").json()
    v["explanation"] = detail_of.explanation(gallery.gateway.extras["api"].visible, PUBLIC,
                                             VectorId(snap, "frame", OUTLIER_FRAME))
    v["tier_uncertain"] = True
    html = environment(TEMPLATES).get_template("vector.html").render(v=v, chart="")
    assert "What makes it rare" in html and html.count("<td class=\"heat-") == 6 and "heat-9" in html
    assert html.count("<meter") == len(v["explanation"]["dims"]) and "uncertain" in html
    assert f"[{v['percentile_low']:.2f}%, {v['percentile_high']:.2f}%]" in html
    page = http.get(f"/v/{snap}/frame/{OUTLIER_FRAME}")  # the live page: the interval, whatever the wiring
    assert page.status_code == 200 and f"[{v['percentile_low']:.2f}%, {v['percentile_high']:.2f}%]" in page.text
