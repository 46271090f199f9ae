"""Quality statistics: present in the result and the provenance, and sane on crosses whose answer is known."""

from __future__ import annotations

import pytest
import torch

from multiverse.crossing.stats import cross_stats, sample_index
from multiverse.records import SpaceRecord
from tests.crossing.conftest import ADMIN
from tests.crossing.lab import frames, state


def gaussian(seed: int, t: int = 64) -> torch.Tensor:
    return torch.randn((t, 8, 16, 16), generator=torch.Generator().manual_seed(seed))


def test_sample_index_spans_the_state():
    assert sample_index(5).tolist() == [0, 1, 2, 3, 4]
    idx = sample_index(1000, 64)
    assert len(idx) == 64 and idx[0] == 0 and idx[-1] == 999 and bool((idx[1:] > idx[:-1]).all())


def test_a_state_crossed_with_itself_diverges_nowhere():
    x = gaussian(1)
    s = cross_stats(x, [x, x], {}, None)
    assert s["norm_ratio"] == pytest.approx(1.0) and s["norm_z"] == pytest.approx(0.0, abs=1e-4)
    assert s["channel_mean_divergence"] == 0.0 and s["channel_std_divergence"] == 0.0
    assert s["parent_share"] == [1.0, 0.0] and s["parent_share_source"] == "nearest"


def test_linear_midpoint_shrinks_the_norm_and_slerp_keeps_it():
    import merge_kernels as mk

    a, b = gaussian(1), gaussian(2)
    lin = cross_stats(mk.apply("linear", [a, b]), [a, b], {}, None)
    sl = cross_stats(mk.apply("slerp", [a, b]), [a, b], {}, None)
    assert lin["norm_ratio"] == pytest.approx(0.707, abs=0.02) and lin["norm_z"] < -10  # far off the prior
    assert sl["norm_ratio"] == pytest.approx(1.0, abs=0.02) and abs(sl["norm_z"]) < 3
    assert lin["channel_std_divergence"] == pytest.approx(0.29, abs=0.03)
    assert sum(sl["parent_share"]) == pytest.approx(1.0) and all(0.4 < s < 0.6 for s in sl["parent_share"])


def test_reference_statistics_of_the_space_are_used():
    a = gaussian(1)
    norm = float(torch.linalg.vector_norm(a.reshape(a.shape[0], -1), dim=1).mean())
    s = cross_stats(a, [a, gaussian(2)], {"norm_mean": norm, "norm_std": 1.0, "channel_std": [2.0] * 8}, None)
    assert s["reference"] == "space reference" and s["norm_z"] == pytest.approx(0.0, abs=1e-3)


def test_statistics_of_a_cross_are_in_the_result_and_the_record(lab):
    for w in ("a", "b"):
        lab.world(w)
    lab.save("a", state(frames(1, 8)))
    lab.save("b", state(frames(2, 8)))
    crossed = lab.cross(["a", "b"], "crossover_kpoint", {"points": [2]})
    s = crossed.stats
    assert s == crossed.snapshot.provenance["stats"]
    assert s["parent_share"] == [0.25, 0.75] and s["parent_share_source"] == "kernel"  # 2 of 8 frames from a
    for key in ("norm_z", "norm_ratio", "channel_mean_divergence", "channel_std_divergence"):
        assert isinstance(s[key], float) and abs(s[key]) < 10, key
    tokens = SpaceRecord("tok", (4, 4), "uint16", 4, vocab_size=64)
    lab.app.store.register_space(ADMIN, tokens)
    for w in ("t1", "t2"):
        lab.world(w, space="tok")
    g = torch.Generator().manual_seed(3)
    for w in ("t1", "t2"):
        x = torch.randint(0, 64, (6, 4, 4), generator=g).to(torch.uint16)
        lab.save(w, state(x, space=tokens))
    tok = lab.cross(["t1", "t2"], "crossover_kpoint", {"points": [3]}, name="tok-child").stats
    assert tok["parent_share"] == [0.5, 0.5] and tok["note"].startswith("token ids")
