"""The Rarity service over real gRPC: every saved or crossed snapshot is scored right after its commit; reads,
the watch stream, the CLI, bad input, and restarts (clean and after a crash) keep every score."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
import torch

from multiverse import errors
from multiverse.app import App
from multiverse.cli import main as cli_main
from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state
from multiverse.state.synth import synth_state

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)
ODD = 40.0  # a frame filled with this value lies far outside the synthetic frames (standard normal)


def save(stack, world: str, data: bytes) -> str:
    snap = stack.server.save_snapshot(world, data).snapshot.id
    assert stack.app.rarity.wait_scored(snap, timeout=30)
    return snap


def odd_state(frames: int = 3) -> bytes:
    x = torch.full((frames, *SPACE.frame_shape), ODD, dtype=torch.float16)
    x[1:] = torch.randn((frames - 1, *SPACE.frame_shape), generator=torch.Generator().manual_seed(9)).half()
    return encode_state(x, torch.zeros((0, 8)), space="demo", players=[], timeline=[])


@pytest.fixture
def filled(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    snaps = [save(stack, "w1", synth_state(SPACE, frames=40, players=3, seed=s)) for s in range(5)]
    return stack, snaps


def scores_by_id(client) -> dict:
    out, token = {}, ""
    for kind in ("frame", "player"):
        while True:
            page = client.top_rare("demo", kind=kind, limit=200, page_token=token)
            out.update({(s.id.snapshot, s.id.kind, s.id.index): (s.score, s.tier, s.knn_distance) for s in page.items})
            token = page.next_page_token
            if not token:
                break
    return out


def test_each_save_is_scored_right_after_its_commit(filled):
    stack, snaps = filled
    s = stack.server.rarity_of(snaps[2], "frame", 7)
    assert s.id.snapshot == snaps[2] and s.space == "demo" and s.world == "w1" and s.tier
    assert s.n == 200 and s.index_version.startswith("frame.") and s.calibration_version.startswith("cal-")
    p = stack.server.rarity_of(snaps[0], "player", 1)
    assert p.id.kind == "player" and p.n == 15
    stats = stack.admin.rarity_stats("demo")
    assert {k.kind: k.points for k in stats.kinds} == {"frame": 200, "player": 15} and stats.pending == 0
    assert not stats.gpu or stats.gpu  # reported either way; the CPU build says False


def test_a_planted_rare_frame_tops_the_ranking_and_reaches_watchers(filled):
    stack, _ = filled
    seen = []
    stream = stack.server.watch_rare("demo", kind="frame", tier="epic")
    reader = threading.Thread(target=lambda: seen.extend(s for _, s in zip(range(1), stream)))
    reader.start()
    time.sleep(0.5)  # let the stream subscribe
    odd = save(stack, "w1", odd_state())
    reader.join(timeout=30)
    stream.close()  # cancels the call
    assert seen and seen[0].id.snapshot == odd and seen[0].id.index == 0 and seen[0].tier in ("epic", "legendary")
    top = stack.server.top_rare("demo", kind="frame", limit=1).items[0]
    assert (top.id.snapshot, top.id.index, top.tier, top.uncharted) == (odd, 0, "legendary", True)
    legendary = stack.server.top_rare(kind="frame", tier="legendary", limit=50).items  # the only space: no name
    assert [s.id.snapshot for s in legendary][:1] == [odd]


def test_ad_hoc_scores_and_neighbours(filled):
    stack, snaps = filled
    rng = np.random.default_rng(0)
    common, odd = rng.standard_normal((1, 24)), np.full((1, 24), ODD)
    a, b = stack.server.score_vectors("demo", np.vstack([common, odd]).astype(np.float32))
    assert not a.HasField("id") and b.score > a.score and b.tier == "legendary" and b.uncharted
    near = stack.server.neighbors(snaps[1], "frame", 3, k=4)
    assert len(near) == 4 and all(n.id.snapshot in snaps for n in near)
    assert (near[0].id.snapshot, near[0].id.index) != (snaps[1], 3)  # itself is never its own neighbour
    assert all(x.distance <= y.distance for x, y in itertools.pairwise(near))
    by_vector = stack.server.neighbors(vector=common.astype(np.float32), space="demo", k=2)
    assert len(by_vector) == 2


def test_bad_input_is_refused_with_the_field_and_the_fix(filled):
    stack, snaps = filled
    with pytest.raises(errors.InvalidArgument, match="frames"):
        stack.server.score_vectors("demo", np.zeros((2, 5), np.float32))
    with pytest.raises(errors.InvalidArgument, match="tier"):
        stack.server.top_rare("demo", tier="mythic")
    with pytest.raises(errors.InvalidArgument, match="kind"):
        stack.server.rarity_of(snaps[0], "sound", 0)
    with pytest.raises(errors.NotFound):
        stack.server.top_rare("nowhere")
    with pytest.raises(errors.NotFound):
        stack.server.rarity_of(snaps[0], "frame", 999)
    with pytest.raises(errors.Unauthenticated):
        stack.client("not-a-key").top_rare("demo")


def test_a_crossed_world_is_scored(filled):
    stack, snaps = filled
    result = stack.admin.cross([snaps[0], snaps[1]], name="child", op="slerp", params={"t": 0.5}, seed=1)
    assert stack.app.rarity.wait_scored(result.snapshot.id, timeout=30)
    s = stack.admin.rarity_of(result.snapshot.id, "frame", 0)
    assert s.world == "child" and s.n > 200


def test_the_cli_lists_the_rarest(filled, capsys):
    stack, _ = filled
    token = stack.admin._metadata[0][1].removeprefix("Bearer ")
    assert cli_main(["--grpc", stack.address, "--key", token, "rare", "--kind", "frame", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("N=200" in line for line in lines)


def test_restarts_keep_every_score(filled):
    stack, _ = filled
    before = scores_by_id(stack.admin)
    settings = stack.app.settings
    crashed = App.open(settings)  # a second process on the same data, as after a crash: nothing was flushed
    try:
        assert crashed.rarity.wait_idle(60)  # the index is rebuilt in the background
        assert crashed.rarity.describe()["spaces"] == ["demo"]
        after_crash = {}
        for kind in ("frame", "player"):
            engine = crashed.rarity.engine("demo")
            after_crash.update({(s.id.snapshot, s.id.kind, s.id.index): (s.score, s.tier, s.knn_distance)
                                for s in engine.top_rare(kind, limit=1000)[0]})
    finally:
        crashed.close()
    assert after_crash == before
    stack.app.rarity.flush()
    later = save(stack, "w1", odd_state())  # scored, not flushed: a restart must add it back from metadata
    before = scores_by_id(stack.admin)
    clean = App.open(settings)  # loads the flushed index, then catches up with metadata (in the background)
    try:
        assert clean.rarity.wait_idle(60)
        engine = clean.rarity.engine("demo")
        reloaded = {(s.id.snapshot, s.id.kind, s.id.index): (s.score, s.tier, s.knn_distance)
                    for kind in ("frame", "player") for s in engine.top_rare(kind, limit=1000)[0]}
        live = stack.app.rarity.engine("demo").population("frame")
        assert engine.population("frame").revision == live.revision  # loaded and caught up, not rebuilt
        assert engine.has_snapshot(later)
    finally:
        clean.close()
    assert reloaded == before
