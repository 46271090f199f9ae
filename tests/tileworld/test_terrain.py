import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from multiverse.tileworld import MAP_SIZE, NUM_TILES, generate_map, generate_maps, generate_region
from multiverse.tileworld.tiles import LAVA, WATER


def test_same_seed_same_map_and_different_seeds_differ():
    a, b = generate_map(42), generate_map(42)
    assert a.dtype == np.uint8 and a.shape == (MAP_SIZE, MAP_SIZE)
    assert a.tobytes() == b.tobytes()
    others = generate_maps([43, 44, 45])
    assert all((m != a).any() for m in others)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**40), size=st.integers(2, 40))
def test_maps_are_valid_and_deterministic(seed, size):
    m = generate_map(seed, size)
    assert m.shape == (size, size) and m.dtype == np.uint8
    assert m.max() < 11  # player-made tiles never appear in natural terrain
    assert np.array_equal(m, generate_map(seed, size))


def test_a_larger_region_extends_the_same_terrain():
    # The trainer relies on this: a crop of a region is a map of the same seed.
    np.testing.assert_array_equal(generate_region(7, 48, 40)[:MAP_SIZE, :MAP_SIZE], generate_map(7))


def test_maps_cover_many_biomes():
    counts = np.bincount(generate_maps(range(40)).ravel(), minlength=NUM_TILES)
    assert (counts[:11] > 0).all(), counts  # every natural tile occurs
    assert 0.15 < counts[WATER] / counts.sum() < 0.6
    assert counts[LAVA] / counts.sum() < 0.05
