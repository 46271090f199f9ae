"""GET /pictures/{snapshot}/{kind}/{index}.png over a live gateway: a PNG with an ETag (its sha256) and immutable
caching, 304 on If-None-Match, drawn once, a private world's picture 404 exactly as no snapshot, bad parts 400
naming the part, an API key reading its own private world."""

from __future__ import annotations

import hashlib
import io

import httpx
from PIL import Image

from multiverse.pictures import picture_path
from multiverse.records import ROLE_SERVER
from multiverse.store.auth import mint_key

IMMUTABLE = "public, max-age=31536000, immutable"


def test_a_picture_is_a_png_with_its_sha256_as_etag_and_immutable_caching(gallery, http: httpx.Client):
    pictures = gallery.gateway.extras["pictures"]
    path = picture_path(gallery.snapshots[0], "frame", 7)
    first = http.get(path)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.headers["etag"] == f'"{hashlib.sha256(first.content).hexdigest()}"'
    assert first.headers["cache-control"] == IMMUTABLE
    with Image.open(io.BytesIO(first.content)) as image:
        assert image.format == "PNG" and image.size[0] > 0 and image.size[1] > 0
    drawn = pictures.renders
    again = http.get(path)
    assert again.content == first.content and pictures.renders == drawn  # served from what was kept

    for tag in (first.headers["etag"], "W/" + first.headers["etag"], f'"{"0" * 64}", {first.headers["etag"]}'):
        cached = http.get(path, headers={"If-None-Match": tag})
        assert cached.status_code == 304 and cached.content == b""
        assert cached.headers["etag"] == first.headers["etag"] and cached.headers["cache-control"] == IMMUTABLE
    assert http.get(path, headers={"If-None-Match": f'"{"0" * 64}"'}).status_code == 200


def test_player_charts_differ(gallery, http: httpx.Client):
    snapshot = gallery.snapshots[1]
    zero, one = (http.get(picture_path(snapshot, "player", i)) for i in (0, 1))
    assert zero.status_code == one.status_code == 200
    assert zero.content != one.content


def test_a_private_worlds_picture_is_404_as_no_snapshot(gallery, http: httpx.Client):
    pictures = gallery.gateway.extras["pictures"]
    drawn = pictures.renders
    hidden = http.get(picture_path(gallery.hidden, "frame", 0))
    absent = http.get(picture_path("ab" * 32, "frame", 0))
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"]["message"].replace(gallery.hidden, "X") == \
        absent.json()["error"]["message"].replace("ab" * 32, "X")
    assert pictures.renders == drawn
    # its owner's API key reads it, cached privately
    _, key = mint_key(gallery.app.meta, "alpha", ROLE_SERVER)
    owned = http.get(picture_path(gallery.hidden, "frame", 0), headers={"Authorization": f"Bearer {key}"})
    assert owned.status_code == 200 and owned.headers["cache-control"].startswith("private")
    refused = http.get(picture_path(gallery.hidden, "frame", 0), headers={"Authorization": "Bearer mvk_x_y"})
    assert refused.status_code == 401


def test_bad_parts_are_400_naming_the_part(gallery, http: httpx.Client):
    good = gallery.snapshots[0]
    for path, field in ((f"/pictures/{good[:12]}/frame/0.png", "snapshot"),
                        (f"/pictures/{good.upper()}/frame/0.png", "snapshot"),
                        (f"/pictures/{good}/tile/0.png", "kind"),
                        (f"/pictures/{good}/frame/x.png", "index"),
                        (f"/pictures/{good}/frame/-1.png", "index"),
                        (f"/pictures/{good}/frame/{2**31 + 1}.png", "index")):
        answer = http.get(path)
        assert answer.status_code == 400, path
        error = answer.json()["error"]
        assert error["field"] == field and error["fix"], error
    assert http.get(picture_path(good, "frame", 10_000)).status_code == 404  # past the last row
