import numpy as np

from multiverse.tileworld import (
    collect_patterns,
    generate_maps,
    plausibility,
    plausible_tiles,
    simulate_world,
)
from multiverse.tileworld.tiles import LAVA, WATER


def test_high_on_fresh_generated_maps_and_worlds():
    fresh = generate_maps(range(950_000_000, 950_000_032))
    assert plausibility(fresh) > 0.97
    world = simulate_world(123, ticks=40, players=4).maps
    assert plausibility(world) > 0.95


def test_low_on_random_tiles():
    rng = np.random.default_rng(0)
    assert plausibility(rng.integers(0, 14, (8, 32, 32))) < 0.05
    assert plausibility(rng.integers(0, 11, (8, 32, 32))) < 0.05


def test_definition_on_a_tiny_reference():
    water = np.full((1, 6, 6), WATER, np.uint8)
    patterns = collect_patterns(water)  # only the all-water 2x2 window is known
    assert plausibility(water[0], patterns) == 1.0
    speck = water[0].copy()
    speck[2, 3] = LAVA
    mask = plausible_tiles(speck, patterns)
    assert not mask[1:4, 2:5].any()  # the 3x3 neighbourhood around the speck
    assert mask.sum() == 36 - 9
