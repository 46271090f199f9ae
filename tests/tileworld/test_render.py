import numpy as np
import pytest

from multiverse.tileworld import PALETTE, generate_map, png_bytes, render_png, tiles_to_rgb

from .pngcheck import read_png


def test_png_is_readable_and_shows_the_palette(tmp_path):
    tiles = generate_map(3)
    path = render_png(tiles, tmp_path / "map.png", scale=4)
    rgb = read_png(path.read_bytes())
    assert rgb.shape == (128, 128, 3)
    np.testing.assert_array_equal(rgb[::4, ::4], PALETTE[tiles])
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional: the strict reader above already checked the file
        return
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), rgb)


def test_a_sequence_renders_as_a_film_strip():
    frames = np.stack([generate_map(1), generate_map(2)])
    rgb = tiles_to_rgb(frames, scale=2)
    assert rgb.shape == (64, (2 * 32 + 1) * 2, 3)  # two frames and a one-tile gap, 2 px per tile
    assert (rgb[:, 64:66] == 0).all()  # the black gap between frames
    assert png_bytes(rgb) == png_bytes(rgb.copy())


def test_bad_tiles_are_refused():
    with pytest.raises(ValueError, match="tile ids"):
        tiles_to_rgb(np.full((4, 4), 99))
