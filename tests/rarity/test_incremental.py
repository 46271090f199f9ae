"""The incremental path equals a rebuild; duplicates and self-matches cannot fake density; removal is exact."""

from __future__ import annotations

import numpy as np
import pytest

from multiverse.errors import AlreadyExists, InvalidArgument, NotFound
from multiverse.rarity import IndexSettings, RarityConfig, RarityEngine, VectorId
from tests.rarity.data import DATASETS

SNAPS = 6


def split_adds(x: np.ndarray, config: RarityConfig | None = None, parts: int = SNAPS) -> RarityEngine:
    """One snapshot per part, added one by one (the path every save takes)."""
    engine = RarityEngine("t", frame_dim=x.shape[1], config=config)
    for i, part in enumerate(np.array_split(np.arange(len(x)), parts)):
        engine.add("frame", x[part], snapshot=f"s{i}", world=f"w{i % 2}")
    return engine


def rebuilt(x: np.ndarray, config: RarityConfig | None = None, parts: int = SNAPS) -> RarityEngine:
    engine = RarityEngine("t", frame_dim=x.shape[1], config=config)
    with engine.bulk():
        for i, part in enumerate(np.array_split(np.arange(len(x)), parts)):
            engine.add("frame", x[part], snapshot=f"s{i}", world=f"w{i % 2}")
    return engine


def all_scores(engine: RarityEngine, n: int, parts: int = SNAPS) -> list:
    out = []
    for i, part in enumerate(np.array_split(np.arange(n), parts)):
        out += [engine.rarity_of(VectorId(f"s{i}", "frame", j)) for j in range(len(part))]
    return out


def comparable(s) -> tuple:
    return (s.id, s.score, s.percentile, s.tier, s.knn_distance, s.local_ratio, s.reference_rarity, s.uncharted,
            s.copies, s.n, s.calibration_version)


@pytest.mark.parametrize("config", [None, RarityConfig(index=IndexSettings(exact_limit=600, nprobe=1024))],
                         ids=["flat", "ivf-all-lists"])
def test_incremental_scores_equal_a_full_rebuild(config):
    x, _ = DATASETS["combined"]()
    a, b = split_adds(x, config), rebuilt(x, config)
    pa, pb = a.population("frame"), b.population("frame")
    np.testing.assert_array_equal(pa.graph.nbr[: pa.n_rows], pb.graph.nbr[: pb.n_rows])
    np.testing.assert_array_equal(pa.graph.dist[: pa.n_rows], pb.graph.dist[: pb.n_rows])
    a.calibrate(), b.calibrate()  # the same population calibrates the same way, whatever path built it
    assert [comparable(s) for s in all_scores(a, len(x))] == [comparable(s) for s in all_scores(b, len(x))]
    top_a, top_b = a.top_rare("frame", limit=100)[0], b.top_rare("frame", limit=100)[0]
    assert [comparable(s) for s in top_a] == [comparable(s) for s in top_b]


def test_an_add_reports_the_neighbours_it_rescored():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("t", frame_dim=x.shape[1])
    engine.add("frame", x, snapshot="base", world="w")
    before = engine.rarity_of(VectorId("base", "frame", 0))
    result = engine.add("frame", x[:1] + 1e-3, snapshot="near", world="w")
    assert VectorId("base", "frame", 0) in result.rescored
    after = engine.rarity_of(VectorId("base", "frame", 0))
    assert after.knn_distance < before.knn_distance and after.index_version != before.index_version


def test_exact_duplicates_cannot_fake_density():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("t", frame_dim=x.shape[1])
    engine.add("frame", x, snapshot="base", world="w")
    lonely = x[-1]  # a planted global outlier
    before = engine.rarity_of(VectorId("base", "frame", len(x) - 1))
    for i in range(30):  # the same vector saved again and again, also several times within one snapshot
        result = engine.add("frame", np.stack([lonely, lonely]), snapshot=f"copy{i}", world="farm")
        assert result.new_points == 0
    after = engine.rarity_of(VectorId("copy7", "frame", 1))
    assert after.copies == 61 and after.knn_distance == before.knn_distance and after.score == pytest.approx(before.score)
    assert engine.stats()["frame"].points == len(x) and engine.stats()["frame"].ids == len(x) + 60
    top = engine.top_rare("frame", limit=100)[0]  # one entry per point, named by its discoverer
    ids = [s.id for s in top]
    assert len(set(ids)) == 100 and top[ids.index(VectorId("base", "frame", len(x) - 1))].copies == 61


def test_self_matches_are_excluded_by_id_not_position():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=np.float32)
    engine = RarityEngine("t", frame_dim=2, config=RarityConfig(k=2))
    engine.add("frame", x, snapshot="s", world="w")
    s = engine.rarity_of(VectorId("s", "frame", 0))
    assert s.knn_distance == pytest.approx(2.0)  # its 2nd nearest other point; itself (distance 0) is left out
    near = engine.neighbors(VectorId("s", "frame", 0))
    assert [n.id.index for n in near] == [1, 2] and near[0].distance == pytest.approx(1.0)


def test_re_adding_a_snapshot_is_a_no_op_but_changing_it_is_refused():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("t", frame_dim=x.shape[1])
    first = engine.add("frame", x[:100], snapshot="s", world="w")
    again = engine.add("frame", x[:100], snapshot="s", world="w")
    assert [s.score for s in again.scores] == [s.score for s in first.scores] and again.new_points == 0
    with pytest.raises(AlreadyExists, match="snapshot s"):
        engine.add("frame", x[100:200], snapshot="s", world="w")


def test_removing_a_snapshot_equals_never_having_added_it():
    x, _ = DATASETS["tiny"]()
    a = split_adds(x)
    a.remove_snapshot("s5")
    b = split_adds(x[: sum(len(p) for p in np.array_split(np.arange(len(x)), SNAPS)[:5])], parts=5)
    a.rebuild(), b.rebuild()
    assert [comparable(s)[1:] for s in all_scores(a, len(b.population("frame").x), 5)] == [
        comparable(s)[1:] for s in all_scores(b, len(b.population("frame").x), 5)]
    with pytest.raises(NotFound, match="snapshot s5"):
        a.rarity_of(VectorId("s5", "frame", 0))


@pytest.mark.parametrize(
    ("vectors", "field"),
    [(np.zeros((2, 5)), "frames"), (np.array([[np.nan] * 16]), "frames[0]"), (np.array(["a"] * 16), "frames")],
)
def test_bad_vectors_name_the_field_and_the_fix(vectors, field):
    engine = RarityEngine("t", frame_dim=16)
    with pytest.raises(InvalidArgument) as err:
        engine.add("frame", vectors, snapshot="s", world="w")
    assert err.value.field == field and engine.stats()["frame"].points == 0


def test_bad_reads_name_the_field():
    engine = RarityEngine("t", frame_dim=4)
    engine.add("frame", np.random.default_rng(0).standard_normal((50, 4)), snapshot="s", world="w")
    for call, field in [
        (lambda: engine.top_rare("frame", tier="mythic"), "tier"),
        (lambda: engine.top_rare("frame", limit=0), "limit"),
        (lambda: engine.top_rare("frame", cursor="garbage"), "cursor"),
        (lambda: engine.top_rare("player"), "kind"),
        (lambda: engine.neighbors(VectorId("s", "frame", 0), k=0), "k"),
    ]:
        with pytest.raises(InvalidArgument) as err:
            call()
        assert err.value.field == field


@pytest.mark.parametrize("config", [None, RarityConfig(index=IndexSettings(exact_limit=600, nprobe=1024))],
                         ids=["flat", "ivf-all-lists"])
def test_snapshots_added_together_get_the_lists_of_adding_them_one_by_one(config):
    """A backlog is scored in batches (add_snapshots: one search per batch); a snapshot it refuses is left out
    and the rest of its batch goes in."""
    x, _ = DATASETS["combined"]()
    parts = 12
    a = split_adds(x, config, parts)
    b = RarityEngine("t", frame_dim=x.shape[1], config=config)
    split = np.array_split(np.arange(len(x)), parts)
    for i in range(2):
        b.add("frame", x[split[i]], snapshot=f"s{i}", world=f"w{i % 2}")
    bad = ("bad", "w0", np.zeros((3, x.shape[1] + 1), np.float32), None)  # not this space's size
    for group in (range(2, 7), range(7, parts)):
        items = [(f"s{i}", f"w{i % 2}", x[split[i]], None) for i in group]
        results, refused = b.add_snapshots([*items[:2], bad, *items[2:]])
        assert list(refused) == ["bad"] and isinstance(refused["bad"], InvalidArgument)
        assert sorted(results) == sorted(f"s{i}" for i in group)
        assert all(len(results[f"s{i}"]["frame"].scores) == len(split[i]) for i in group)
    assert not b.has_snapshot("bad")
    pa, pb = a.population("frame"), b.population("frame")
    np.testing.assert_array_equal(pa.graph.nbr[: pa.n_rows], pb.graph.nbr[: pb.n_rows])
    np.testing.assert_array_equal(pa.graph.dist[: pa.n_rows], pb.graph.dist[: pb.n_rows])
    a.calibrate(), b.calibrate()
    assert [comparable(s) for s in all_scores(a, len(x), parts)] == [comparable(s) for s in all_scores(b, len(x), parts)]
