"""The committed reference model: integrity, accuracy, shapes, validation and the space description."""

import json
import shutil

import numpy as np
import pytest
import torch

from multiverse.errors import Corrupt, InvalidArgument
from multiverse.records import SpaceRecord
from multiverse.tileworld import (
    decode_latents,
    default_model,
    encode_maps,
    generate_maps,
    load_model,
    plausibility,
    simulate_world,
    space_spec,
)
from multiverse.tileworld.latents import CARD_PATH, WEIGHTS_PATH, sha256_file

FRESH = range(950_000_000, 950_000_192)  # neither training pool nor the card's evaluation seeds


@pytest.fixture(scope="module")
def fresh_maps():
    return generate_maps(FRESH)


def test_weights_are_small_safetensors_matching_the_card():
    card = json.loads(CARD_PATH.read_text())
    assert WEIGHTS_PATH.stat().st_size <= 5 * 1024 * 1024
    assert sha256_file(WEIGHTS_PATH) == card["weights_sha256"]
    assert card["accuracy"] >= 0.90
    assert {"seed", "steps", "reference", "config"} <= card.keys()


def test_committed_weights_reach_the_recorded_accuracy_on_fresh_maps(fresh_maps):
    decoded = decode_latents(encode_maps(fresh_maps))
    acc = float((decoded == fresh_maps).mean())
    assert acc >= 0.90
    assert abs(acc - default_model().card["accuracy"]) <= 0.01, acc


def test_latents_match_the_reference_statistics(fresh_maps):
    latents = encode_maps(fresh_maps)  # (N, C, h, w)
    ref = default_model().card["reference"]
    norms = latents.flatten(1).norm(dim=1)
    z = (norms.mean() - ref["frame_norm_mean"]) / ref["frame_norm_std"]
    assert abs(float(z)) < 0.5
    per_channel_std = latents.transpose(0, 1).flatten(1).std(dim=1)
    np.testing.assert_allclose(per_channel_std.numpy(), ref["channel_std"], rtol=0.25)


def test_a_world_round_trips_and_midpoints_still_look_like_terrain():
    world = simulate_world(77, ticks=8).maps
    latents = encode_maps(world)
    assert latents.dtype == torch.float32 and tuple(latents.shape) == (8, *space_spec()["frame_shape"])
    decoded = decode_latents(latents)
    assert decoded.dtype == np.uint8 and decoded.shape == world.shape
    assert (decoded == world).mean() > 0.85
    other = encode_maps(generate_maps([78]))
    midpoint = decode_latents(0.5 * (latents[:1] + other))
    assert plausibility(midpoint) > 0.9


def test_bad_inputs_name_the_field_and_the_fix():
    with pytest.raises(InvalidArgument, match=r"\(T, 32, 32\)"):
        encode_maps(np.zeros((2, 16, 16), np.uint8))
    with pytest.raises(InvalidArgument, match="integer"):
        encode_maps(np.zeros((1, 32, 32), np.float32))
    with pytest.raises(InvalidArgument, match=r"\[0, 14\)"):
        encode_maps(np.full((1, 32, 32), 14))
    with pytest.raises(InvalidArgument, match=r"tileworld-v1 expects \(T, 8, 8, 8\)"):
        decode_latents(torch.zeros(1, 8, 8, 9))
    with pytest.raises(InvalidArgument, match="finite"):
        decode_latents(torch.full((1, 8, 8, 8), float("nan")))
    assert decode_latents(torch.zeros(0, 8, 8, 8)).shape == (0, 32, 32)


def test_space_spec_is_a_space_record():
    spec = space_spec()
    record = SpaceRecord(**spec)
    assert record.name == "tileworld-v1" and record.decoder == "tileworld-v1" and not record.discrete
    assert record.frame_shape == (8, 8, 8) and record.player_dim == 16
    ref = spec["reference"]
    assert len(ref["channel_mean"]) == len(ref["channel_std"]) == 8 and ref["frame_norm_std"] > 0
    json.dumps(spec)  # plain data only


def test_tampered_weights_are_refused(tmp_path):
    weights, card = tmp_path / "w.safetensors", tmp_path / "w.json"
    shutil.copy(WEIGHTS_PATH, weights)
    shutil.copy(CARD_PATH, card)
    assert load_model(weights).card["weights_sha256"] == sha256_file(weights)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(Corrupt, match="sha256"):
        load_model(weights)
