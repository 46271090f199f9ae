"""Pictures of vectors over a real store, rarity service and blob directory: a tileworld frame through its
decoder, charts that tell player vectors apart and come out byte-identical, rendered once (pointers kept across
restarts, concurrent first requests drawn once), a private world's pictures NotFound for the public."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from multiverse.blobs import open_blob_store
from multiverse.errors import InvalidArgument, NotFound
from multiverse.metadata import open_metadata
from multiverse.pictures import Pictures
from multiverse.rarity.service import RarityService
from multiverse.records import PUBLIC, SpaceRecord
from multiverse.state.format import encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest, Store
from multiverse.tileworld import encode_maps, simulate_world, space_spec
from tests.market.world import ADMIN, ALPHA, SPACE, make_state

PUBLIC_READER = Principal("anonymous", "public")


@pytest.fixture
def scored(tmp_path: Path):
    """A store with space "demo" (no decoder), a public world "w" and a private world "p", one scored snapshot
    each, and the rarity service that scored them."""
    meta = open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    store = Store(meta, open_blob_store(str(tmp_path / "blobs")), tmp_path / "spool")
    rarity = RarityService.open(meta, store.blobs, tmp_path / "rarity")  # reads states as the store stores them
    meta.commits.subscribe(rarity.snapshot_saved)
    store.register_space(ADMIN, SPACE)
    store.create_world(ADMIN, "w", SPACE.name, owner="alpha", visibility=PUBLIC)
    store.create_world(ADMIN, "p", SPACE.name, owner="alpha")
    ids = []
    for world in ("w", "p"):
        data = make_state([None] * 4) if world == "w" else _shifted(make_state([None] * 4))
        record, _ = store.save(ALPHA, SaveRequest(world=world, size=len(data)), [data])
        assert rarity.wait_scored(record.id, timeout=60)
        ids.append(record.id)
    try:
        yield store, rarity, ids[0], ids[1]
    finally:
        rarity.close()
        meta.close()


def _shifted(state: bytes) -> bytes:
    """Another state of the same shape (so another snapshot): frames and players moved by a constant."""
    g = torch.Generator().manual_seed(11)
    frames = torch.randn((24, *SPACE.frame_shape), generator=g) + 3.0
    return encode_state(frames.half(), torch.randn((4, SPACE.player_dim), generator=g).half(), space=SPACE.name,
                        players=[{"uuid": f"00000000-0000-4000-8000-0000000000a{i}", "name": f"q{i}",
                                  "stats": {}} for i in range(4)], timeline=[])


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def test_a_tileworld_frame_is_drawn_by_its_decoder(tmp_path: Path):
    meta = open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    store = Store(meta, open_blob_store(str(tmp_path / "blobs")), tmp_path / "spool")
    store.register_space(ADMIN, SpaceRecord(**space_spec()))
    store.create_world(ADMIN, "t", "tileworld-v1", owner="alpha", visibility=PUBLIC)
    latents = encode_maps(simulate_world(3, ticks=2).maps)  # (2, 8, 8, 8)
    data = encode_state(latents, torch.zeros((1, 16)), space="tileworld-v1",
                        players=[{"uuid": "00000000-0000-4000-8000-000000000001", "name": "p", "stats": {}}],
                        timeline=[])
    record, _ = store.save(ALPHA, SaveRequest(world="t", size=len(data)), [data])
    pictures = Pictures(store, None, tmp_path / "pictures")
    frame = _png(pictures.get(PUBLIC_READER, record.id, "frame", 1).png)
    assert frame.size == (256, 256)  # 32 x 32 tiles of 8 pixels: the decoded map, not a chart
    player = _png(pictures.get(PUBLIC_READER, record.id, "player", 0).png)
    assert player.size != frame.size  # a player vector has no decoder: its chart
    meta.close()


def test_charts_tell_vectors_apart_and_are_byte_identical(scored, tmp_path: Path):
    store, rarity, public, _ = scored
    pictures = Pictures(store, rarity, tmp_path / "pictures")
    one, again = pictures.render(public, "player", 0), pictures.render(public, "player", 0)
    assert one.final and one.png == again.png and one.etag == again.etag
    other = pictures.render(public, "player", 1)
    assert other.png != one.png
    assert _png(one.png).size == _png(other.png).size
    frames = {pictures.render(public, "frame", i).etag for i in range(6)}
    assert len(frames) == 6  # frames of a space without a decoder: charts, each its own


def test_a_picture_is_rendered_once_and_kept(scored, tmp_path: Path):
    store, rarity, public, _ = scored
    pictures = Pictures(store, rarity, tmp_path / "pictures")
    barrier = threading.Barrier(8)
    got = []

    def fetch() -> None:
        barrier.wait()
        got.append(pictures.get(PUBLIC_READER, public, "frame", 5))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pictures.renders == 1 and len({p.etag for p in got}) == 1
    assert store.blobs.read(got[0].etag) == got[0].png  # kept in the blob store under its sha256
    restarted = Pictures(store, rarity, tmp_path / "pictures")  # a new process: no hot bytes, the pointer kept
    assert restarted.get(PUBLIC_READER, public, "frame", 5).png == got[0].png and restarted.renders == 0


def test_a_private_worlds_picture_is_not_found_as_no_snapshot(scored, tmp_path: Path):
    store, rarity, _, private = scored
    pictures = Pictures(store, rarity, tmp_path / "pictures")
    with pytest.raises(NotFound) as hidden:
        pictures.get(PUBLIC_READER, private, "frame", 0)
    with pytest.raises(NotFound) as absent:
        pictures.get(PUBLIC_READER, "ab" * 32, "frame", 0)
    assert str(hidden.value).replace(private, "X") == str(absent.value).replace("ab" * 32, "X")
    assert pictures.renders == 0
    assert _png(pictures.get(ALPHA, private, "frame", 0).png)  # its owner's key reads it


def test_bad_parts_name_the_part(scored, tmp_path: Path):
    store, rarity, public, _ = scored
    pictures = Pictures(store, rarity, tmp_path / "pictures")
    for args, field in (((public[:10], "frame", 0), "snapshot"), ((public.upper(), "frame", 0), "snapshot"),
                        ((public, "tile", 0), "kind"), ((public, "frame", "-1"), "index"),
                        ((public, "frame", "1e3"), "index"), ((public, "frame", 2**31 + 1), "index")):
        with pytest.raises(InvalidArgument) as err:
            pictures.get(PUBLIC_READER, *args)
        assert err.value.field == field
    with pytest.raises(NotFound, match="past the end"):
        pictures.get(PUBLIC_READER, public, "player", 4)


def test_a_decoder_that_refuses_a_spaces_frames_gives_way_to_the_chart(tmp_path: Path):
    meta = open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    store = Store(meta, open_blob_store(str(tmp_path / "blobs")), tmp_path / "spool")
    odd = SpaceRecord("odd", SPACE.frame_shape, "float16", SPACE.player_dim, decoder="tileworld-v1")
    store.register_space(ADMIN, odd)  # tileworld's decoder takes (8, 8, 8) frames, not these
    store.create_world(ADMIN, "o", "odd", owner="alpha", visibility=PUBLIC)
    frames, players = torch.randn((2, *odd.frame_shape)).half(), torch.zeros((1, odd.player_dim)).half()
    data = encode_state(frames, players, space="odd", timeline=[],
                        players=[{"uuid": "00000000-0000-4000-8000-000000000001", "name": "p", "stats": {}}])
    record, _ = store.save(ALPHA, SaveRequest(world="o", size=len(data)), [data])
    pictures = Pictures(store, None, tmp_path / "pictures")
    chart = pictures.get(PUBLIC_READER, record.id, "frame", 0)
    assert chart.final and _png(chart.png).size == _png(pictures.get(PUBLIC_READER, record.id, "player", 0).png).size
    meta.close()
