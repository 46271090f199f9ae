"""A tiny model trained for a few steps: the whole pipeline, end to end, in a temporary folder."""

import json

import numpy as np

from multiverse.tileworld import (
    decode_latents,
    encode_maps,
    load_model,
    render_png,
    simulate_world,
    space_spec,
)
from multiverse.tileworld.train import TrainConfig, save, train

from .pngcheck import read_png

TINY = TrainConfig(seed=3, steps=3, batch_size=4, regions=2, region_size=36, eval_maps=4, hidden=8, threads=1)


def test_train_save_load_encode_decode_render(tmp_path):
    vae, card = train(TINY, log=lambda _: None)
    card = save(vae, card, tmp_path / "tiny.safetensors")
    on_disk = json.loads((tmp_path / "tiny.json").read_text())
    assert on_disk["weights_sha256"] == card["weights_sha256"] and on_disk["steps"] == 3
    assert 0.0 <= on_disk["accuracy"] <= 1.0 and len(on_disk["reference"]["channel_std"]) == 8

    model = load_model(tmp_path / "tiny.safetensors")
    world = simulate_world(1, ticks=3).maps  # (3, 32, 32)
    latents = encode_maps(world, model)
    assert tuple(latents.shape) == (3, 8, 8, 8)
    tiles = decode_latents(latents, model)
    assert tiles.shape == (3, 32, 32) and tiles.dtype == np.uint8
    png = render_png(tiles, tmp_path / "decoded.png", scale=2)
    assert read_png(png.read_bytes()).shape == (64, (3 * 32 + 2) * 2, 3)
    assert space_spec(model)["reference"]["weights_sha256"] == card["weights_sha256"]


def test_training_is_deterministic_by_seed(tmp_path):
    a = save(*train(TINY, log=lambda _: None), tmp_path / "a.safetensors")
    b = save(*train(TINY, log=lambda _: None), tmp_path / "b.safetensors")
    assert a["weights_sha256"] == b["weights_sha256"]
