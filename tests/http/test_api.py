"""The public JSON API against a live gateway: pages, filters, cursors, one vector's page, worlds, snapshots, the
market's reads; private worlds never show; bad parameters are 400s naming them, unknown ids 404s."""

from __future__ import annotations

import pytest

from tests.http.stack import OUTLIER_FRAME, OUTLIER_PLAYER

CARD = {"snapshot", "kind", "index", "space", "world", "score", "percentile", "tier", "knn_distance",
        "index_version", "n", "picture", "url", "token_id", "percentile_low", "percentile_high", "tier_uncertain"}


def test_spaces_name_their_counts(http):
    (space,) = http.get("/api/spaces").json()["items"]
    assert space["name"] == "demo" and space["frame_shape"] == [4, 3, 2] and space["counts"]["frame"] > 0


@pytest.mark.parametrize("kind, outlier", [("frame", OUTLIER_FRAME), ("player", OUTLIER_PLAYER)])
def test_rarest_first_is_an_outlier_of_a_public_world(http, gallery, kind, outlier):
    items = http.get("/api/rare", params={"kind": kind, "limit": 200}).json()["items"]
    assert set(items[0]) == CARD and items[0]["index"] == outlier and items[0]["world"] == "pub"
    assert items[0]["score"] == max(i["score"] for i in items)
    assert all(a["score"] >= b["score"] for a, b in zip(items, items[1:]))  # rarest first, the same scores
    assert all(i["snapshot"] in gallery.snapshots for i in items), "a private world's vector showed"
    assert items[0]["picture"] == f"/pictures/{items[0]['snapshot']}/{kind}/{outlier}.png"
    assert items[0]["url"] == f"/v/{items[0]['snapshot']}/{kind}/{outlier}"


@pytest.mark.parametrize("sort", ["rarity", "recent"])
def test_cursor_pages_cover_everything_once(http, gallery, sort):
    seen, cursor = [], ""
    for _ in range(100):
        page = http.get("/api/rare", params={"sort": sort, "limit": 7, "cursor": cursor}).json()
        seen += [(i["snapshot"], i["index"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and {s for s, _ in seen} <= set(gallery.snapshots)
    if sort == "recent":  # every frame of both public snapshots, newest snapshot first
        assert len(seen) == 48 and seen[0] == (gallery.snapshots[1], 0)


def test_filters_by_tier_and_world(http):
    top = http.get("/api/rare", params={"limit": 1}).json()["items"][0]
    same = http.get("/api/rare", params={"tier": top["tier"], "world": "pub", "sort": "recent"}).json()["items"]
    assert same and all(i["tier"] == top["tier"] for i in same)
    assert http.get("/api/rare", params={"world": "priv"}).status_code == 404
    assert http.get("/api/rare", params={"world": "nope"}).status_code == 404


def test_a_vectors_page(http, gallery):
    snap = gallery.snapshots[1]
    body = http.get(f"/api/vectors/{snap}/frame/{OUTLIER_FRAME}").json()
    assert CARD <= set(body) and body["tier"] in ("rare", "epic", "legendary")
    assert body["neighbors"] and all(n["snapshot"] in gallery.snapshots for n in body["neighbors"])
    assert [n["distance"] for n in body["neighbors"]] == sorted(n["distance"] for n in body["neighbors"])
    dist = body["distribution"]
    assert len(dist["edges"]) == len(dist["counts"]) + 1 and sum(dist["counts"]) > 0
    assert [t["name"] for t in dist["tiers"]] == ["common", "uncommon", "rare", "epic", "legendary"]
    assert dist["here"] == body["score"]
    lineage = body["lineage"]
    assert lineage["world"] == "pub" and lineage["parents"][0]["id"] == gallery.snapshots[0]
    assert lineage["parents"][0]["picture"].endswith("/frame/23.png") and body["token"] is None
    assert "frames" not in body and "vector" not in body  # no raw vector


def test_private_and_unknown_ids_are_404_and_bad_ids_400(http, gallery):
    assert http.get(f"/api/vectors/{gallery.hidden}/frame/0").status_code == 404
    assert http.get(f"/api/snapshots/{gallery.hidden}").status_code == 404
    assert http.get(f"/api/vectors/{gallery.snapshots[0]}/frame/999").status_code == 404
    assert http.get("/api/worlds/priv").status_code == 404
    bad = http.get("/api/vectors/xyz/frame/0")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "snapshot" and bad.json()["error"]["fix"]
    bad = http.get("/api/rare", params={"limit": 500})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"
    bad = http.get("/api/rare", params={"cursor": "tnotacursor"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "cursor"


def test_worlds_and_snapshots(http, gallery):
    names = [w["name"] for w in http.get("/api/worlds").json()["items"]]
    assert names == ["pub"]
    world = http.get("/api/worlds/pub").json()
    assert [s["id"] for s in world["snapshots"]] == gallery.snapshots[::-1]
    assert world["snapshots"][0]["picture"].endswith("/frame/23.png") and world["children"] == []
    snap = http.get(f"/api/snapshots/{gallery.snapshots[1]}").json()
    assert snap["parents"] == [gallery.snapshots[0]] and snap["frames"] == 24


def test_market_reads(http, gallery):
    chain = http.get("/api/chain").json()
    assert chain["chain_id"] and chain["token"].startswith("0x") and chain["rpc_url"].startswith("http")
    assert http.get("/api/tokens").json() == {"items": [], "next_cursor": ""}
    assert http.get("/api/tokens/" + "ab" * 32).status_code == 404
    assert http.get("/api/listings", params={"status": "sold"}).json()["items"] == []
    assert http.get("/api/sales").json()["items"] == []
    assert http.get("/api/listings", params={"status": "gone"}).json()["error"]["field"] == "status"
