import numpy as np

from multiverse.tileworld import generate_map, simulate_world
from multiverse.tileworld.tiles import COBBLE, DIRT, PLANKS


def test_a_few_tiles_change_per_tick_along_player_trails():
    run = simulate_world(5, ticks=30, players=3)
    assert run.maps.shape == (30, 32, 32) and run.positions.shape == (30, 3, 2)
    frames = np.concatenate([generate_map(5)[None], run.maps])
    for t in range(1, len(frames)):
        changed = np.argwhere(frames[t] != frames[t - 1])
        assert len(changed) <= 3
        assert set(frames[t][frames[t] != frames[t - 1]].tolist()) <= {DIRT, PLANKS, COBBLE}
        players = {tuple(p) for p in run.positions[t - 1]}
        assert {tuple(c) for c in changed} <= players  # a tile changes only under a player
    steps = np.abs(np.diff(run.positions, axis=0)).sum(axis=2)
    assert (steps == 1).all()  # players walk one tile per tick
    assert (run.maps[-1] != frames[0]).sum() > 0


def test_worlds_are_deterministic_by_seed():
    a, b = simulate_world(9, ticks=12), simulate_world(9, ticks=12)
    assert np.array_equal(a.maps, b.maps) and np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.maps, simulate_world(10, ticks=12).maps)
