"""The preview decoder registered for tileworld-v1: latent frames -> the decoded map as PNG."""

import pytest

from multiverse.demo.previews import render_preview
from multiverse.errors import NotFound
from multiverse.tileworld import decode_latents, encode_maps, simulate_world, space_spec, tiles_to_rgb

from tests.tileworld.pngcheck import read_png


def test_the_space_names_a_decoder_that_draws_its_last_frames():
    latents = encode_maps(simulate_world(3, ticks=4).maps)  # (4, 8, 8, 8)
    decoder = space_spec()["decoder"]
    one = read_png(render_preview(decoder, latents))
    assert one.shape == (256, 256, 3)
    tiles = decode_latents(latents[-1:])[0]
    assert (one == tiles_to_rgb(tiles)).all()
    strip = read_png(render_preview(decoder, latents, count=3))
    assert strip.shape == (256, (3 * 32 + 2) * 8, 3)


def test_an_unknown_decoder_says_which_exist():
    with pytest.raises(NotFound, match="tileworld-v1"):
        render_preview("oasis-500m", None)
