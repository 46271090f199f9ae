"""RarityOf over real gRPC carries the percentile's interval and the explanation: the nearest stored vectors and
the values and spatial cells where a planted frame differs from them; the CLI prints both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multiverse import errors
from multiverse.cli import main as cli_main
from multiverse.state.format import encode_state

PLANT = 5  # the planted frame's index in its snapshot
ROW, COL = 2, 1  # the planted cell of the (4, 3, 2) = (C, H, W) frame


def state(seed: int, planted: bool = False) -> bytes:
    x = torch.randn((40, 4, 3, 2), generator=torch.Generator().manual_seed(seed))
    if planted:
        x[PLANT, :, ROW, COL] += 6.0  # every channel of one spatial cell: far from any stored frame there
    return encode_state(x.half(), torch.zeros((0, 8)), space="demo", players=[], timeline=[])


@pytest.fixture
def planted(stack):
    stack.admin.create_world("w1", "demo", owner="alpha")
    snaps = []
    for seed in range(6):
        snap = stack.server.save_snapshot("w1", state(seed, planted=seed == 5)).snapshot.id
        assert stack.app.rarity.wait_scored(snap, timeout=30)
        snaps.append(snap)
    return stack, snaps


def test_rarity_of_names_the_planted_values_and_cell(planted):
    stack, snaps = planted
    s = stack.server.rarity_of(snaps[-1], "frame", PLANT)
    e = s.explanation
    near = stack.server.neighbors(snaps[-1], "frame", PLANT)
    assert [(n.id.snapshot, n.id.index) for n in e.neighbors] == [(n.id.snapshot, n.id.index) for n in near]
    assert len(e.neighbors) == s.neighbors_used == 10 and e.basis == "raw"
    assert all(a.distance <= b.distance for a, b in zip(e.neighbors, e.neighbors[1:]))
    top = [tuple(d.position) for d in e.dimensions[:4]]
    assert sorted(top) == [(c, ROW, COL) for c in range(4)]  # the planted values, each raised (z > 0)
    assert all(d.z > 3 and d.value > d.mean for d in e.dimensions[:4])
    c = e.cells
    assert (c.rows, c.cols, list(c.row_edges), list(c.col_edges)) == (3, 2, [0, 1, 2, 3], [0, 1, 2])
    hottest = max(range(len(c.values)), key=c.values.__getitem__)
    assert divmod(hottest, c.cols) == (ROW, COL) and c.values[hottest] > 2 * sorted(c.values)[-2]


def test_rarity_of_carries_the_interval_and_brief_leaves_the_explanation_out(planted):
    stack, snaps = planted
    s = stack.server.rarity_of(snaps[0], "frame", 3, brief=True)
    assert not s.HasField("explanation")
    assert s.percentile_low <= s.percentile <= s.percentile_high and s.percentile_high - s.percentile_low > 0.5
    tiers = [(0, "common"), (50, "uncommon"), (90, "rare"), (99, "epic"), (99.9, "legendary")]
    tier_of = lambda p: [name for lower, name in tiers if p >= lower][-1]  # noqa: E731
    assert s.tier_uncertain == (tier_of(s.percentile_low) != tier_of(s.percentile_high))
    page = stack.server.top_rare("demo", kind="frame", limit=50).items
    assert all(x.percentile_low <= x.percentile <= x.percentile_high for x in page)
    assert any(x.tier_uncertain for x in page)  # N=240: the top tiers' boundaries are within the intervals
    with pytest.raises(errors.NotFound):
        stack.client(stack.admin.create_api_key("beta").token).rarity_of(snaps[0], "frame", 3)  # w1 is alpha's


def test_the_cli_prints_the_interval_and_the_explanation(planted, capsys):
    stack, snaps = planted
    token = stack.admin._metadata[0][1].removeprefix("Bearer ")
    args = ["--grpc", stack.address, "--key", token]
    assert cli_main([*args, "rarity-of", snaps[-1], "--index", str(PLANT)]) == 0
    out = capsys.readouterr().out
    assert "nearest 10:" in out and f"[0,{ROW},{COL}]" in out and "hottest row 2, column 1" in out
    assert cli_main([*args, "rare", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("% [" in line for line in lines)
