"""Bots: deterministic play, valid Minecraft player records, and strange bots landing in sparse vector space."""

import numpy as np

from multiverse.config import Limits
from multiverse.state.players import validate_players
from multiverse.tileworld import generate_map
from multiverse.tileworld.bots import PLAYER_DIM, Server


def play(seed: int, ticks: int = 48, players: int = 4, strange: int = 1) -> tuple[Server, list[np.ndarray], list[str]]:
    server = Server(f"s{seed}", generate_map(seed), seed=seed, players=players, strange=strange)
    maps, texts = [], []
    for _ in range(ticks):
        tiles, events = server.tick()
        maps.append(tiles)
        texts += events
    return server, maps, texts


def test_same_seed_same_game_and_the_world_changes_a_little_per_tick():
    a, maps_a, texts_a = play(5)
    b, maps_b, texts_b = play(5)
    assert np.array_equal(np.stack(maps_a), np.stack(maps_b)) and texts_a == texts_b
    assert a.records() == b.records() and np.array_equal(a.vectors(), b.vectors())
    start = generate_map(5)
    changed = [int((m != p).sum()) for p, m in zip([start, *maps_a], maps_a)]
    assert max(changed) <= 4 and sum(changed) > 10  # at most one tile per bot per tick, and they do work


def test_player_records_are_valid_minecraft_stats_with_optional_wallets():
    server, _, _ = play(11)
    records = server.records()
    validate_players(records, max_players=64, limits=Limits())
    assert len({r["uuid"] for r in records}) == 4
    assert sum("wallet" in r for r in records) == 2
    stats = records[0]["stats"]
    assert {"Pos", "Rotation", "Health", "foodLevel", "XpLevel", "Dimension", "Inventory"} <= stats.keys()
    assert all(1 <= item["count"] <= 64 for r in records for item in r["stats"]["Inventory"])
    assert server.vectors().shape == (4, PLAYER_DIM) and server.vectors().dtype == np.float32


def test_strange_bots_land_in_sparse_vector_space():
    wanderers, strange = [], []
    for seed in range(12):
        server, _, _ = play(seed, players=5, strange=1)
        vectors = server.vectors()
        wanderers += list(vectors[:4])
        strange.append(vectors[4])
    crowd = np.stack(wanderers)  # (48, 16)

    def knn_distance(x: np.ndarray, pool: np.ndarray, k: int = 5) -> float:
        d = np.sort(np.linalg.norm(pool - x, axis=1))
        return float(d[d > 0][:k].mean())

    crowd_scores = [knn_distance(v, crowd) for v in crowd]
    strange_scores = [knn_distance(v, crowd) for v in strange]
    # Every strange bot is farther from the crowd than 90% of the crowd is from itself.
    assert min(strange_scores) > np.quantile(crowd_scores, 0.9), (strange_scores, np.quantile(crowd_scores, 0.9))
