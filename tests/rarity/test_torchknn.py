"""The torch exact k-NN (the GPU path without faiss-gpu) gives FAISS flat's neighbours and distances, and the
engine run on it gives the FAISS backend's scores: on the CPU here, and on CUDA where torch sees a GPU."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch

from multiverse.errors import InvalidArgument
from multiverse.rarity import IndexSettings, RarityConfig, RarityEngine, VectorId
from multiverse.rarity.index import VectorIndex, backends, uses_gpu
from multiverse.rarity.population import SLACK, _gemm_within
from multiverse.rarity.torchknn import FLT_MAX, TorchFlat
from tests.rarity.data import DATASETS

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="torch sees no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


def faiss_flat(x: np.ndarray, ids: np.ndarray) -> faiss.Index:
    index = faiss.IndexIDMap2(faiss.IndexFlatL2(x.shape[1]))
    index.add_with_ids(x, ids)
    return index


def assert_same_knn(got: tuple[np.ndarray, np.ndarray], index: faiss.Index, q: np.ndarray, k: int) -> None:
    """``got`` equals FAISS flat's k-NN of ``q``: distances to 1e-4 relative, ids exactly but where two
    distances are equal to float rounding (there either order is right)."""
    d, i = got
    want_d, want_i = index.search(q, k + 1)  # one more, to see a near tie at the k-th place
    np.testing.assert_allclose(d, want_d[:, :k], rtol=1e-4, atol=1e-6)
    near = np.isclose(want_d[:, 1:], want_d[:, :-1], rtol=1e-5, atol=1e-6)  # a near tie between j and j + 1
    tied = np.zeros_like(want_d, dtype=bool)
    tied[:, 1:] |= near
    tied[:, :-1] |= near
    differ = i != want_i[:, :k]
    assert not (differ & ~tied[:, :k]).any(), np.argwhere(differ & ~tied[:, :k])[:5]
    assert differ.mean() < 0.01


@pytest.mark.parametrize("device", DEVICES)
def test_search_equals_faiss_flat_through_adds_and_removals(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    ids = rng.permutation(1_000_000)[:3000].astype(np.int64)  # sparse, unsorted ids: the mapping is by id
    torch_index = TorchFlat(24, device)
    for part in np.array_split(np.arange(3000), 4):  # later batches bring smaller ids too: columns are re-sorted
        torch_index.add(x[part], ids[part])
    index = faiss_flat(x, ids)
    q = np.vstack([x[:200] + 0.3 * rng.standard_normal((200, 24)).astype(np.float32),
                   rng.standard_normal((100, 24)).astype(np.float32)])
    for k in (1, 11, 40):
        assert_same_knn(torch_index.search(q, k), index, q, k)
    gone = ids[rng.choice(3000, 700, replace=False)]
    assert torch_index.remove(np.r_[gone, [-5, 2_000_000]]) == 700  # ids not indexed are ignored, as FAISS does
    assert index.remove_ids(faiss.IDSelectorBatch(gone)) == 700
    assert torch_index.ntotal == index.ntotal == 2300
    assert_same_knn(torch_index.search(q, 11), index, q, 11)
    assert not np.isin(torch_index.search(q, 50)[1], gone).any()


@pytest.mark.parametrize("device", DEVICES)
def test_small_batches_and_padding_give_the_same_answer(device):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    ids = np.arange(500, dtype=np.int64) * 3
    whole, batched = TorchFlat(8, device), TorchFlat(8, device, budget=3 * 500)  # three queries per block
    whole.add(x, ids), batched.add(x, ids)
    assert batched.batch_size() == 3 and whole.batch_size() > 500
    q = rng.standard_normal((50, 8)).astype(np.float32)
    a, b = whole.search(q, 7), batched.search(q, 7)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)  # another GEMM shape rounds otherwise
    few = TorchFlat(8, device)  # fewer points than k: padded as FAISS pads, (FLT_MAX, -1)
    few.add(x[:3], ids[:3])
    d, i = few.search(q[:4], 5)
    want_d, want_i = faiss_flat(x[:3], ids[:3]).search(q[:4], 5)
    np.testing.assert_array_equal(i, want_i)
    assert (d[:, 3:] == FLT_MAX).all() and (want_d[:, 3:] == FLT_MAX).all()
    np.testing.assert_allclose(d[:, :3], want_d[:, :3], rtol=1e-5)
    empty = TorchFlat(8, device).search(q[:2], 3)
    assert (empty[1] == -1).all() and (empty[0] == FLT_MAX).all()


@pytest.mark.parametrize("device", DEVICES)
def test_ties_are_ordered_by_id_and_the_kth_place_goes_to_the_smaller_id(device):
    # integer points: every distance is exact in float32, and many are equal
    grid = np.array([(a, b) for a in range(-3, 4) for b in range(-3, 4)], dtype=np.float32)
    rng = np.random.default_rng(2)
    ids = rng.permutation(len(grid)).astype(np.int64) + 100
    index = TorchFlat(2, device)
    index.add(grid, ids)
    q = np.array([[0, 0], [0.5, 0], [3, 3], [0, 0.5]], dtype=np.float32)
    for k in (1, 4, 6, 13):
        d, i = index.search(q, k)
        full = ((q[:, None, :] - grid[None]) ** 2).sum(-1)
        for row in range(len(q)):
            order = np.lexsort((ids, full[row]))[:k]  # by distance, then by id
            np.testing.assert_array_equal(i[row], ids[order])
            np.testing.assert_array_equal(d[row], full[row, order])


@pytest.mark.parametrize("device", DEVICES)
def test_the_ball_query_finds_the_pairs_the_cpu_finds(device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1500, 16)).astype(np.float32)
    rows = np.flatnonzero(rng.random(1500) < 0.8)  # the indexed rows; their ids are their row numbers
    radius = rng.uniform(3.0, 5.0, 1500).astype(np.float32)
    radius[rows[:3]] = np.inf  # lists not full yet: every query falls in those balls
    index = TorchFlat(16, device, budget=200 * 1500)  # several blocks of queries
    index.add(x[rows], rows)
    q = rng.standard_normal((700, 16)).astype(np.float32)
    qi, ids = index.within(q, radius[rows] ** 2, SLACK, SLACK * 1e-2)
    want_q, want_r = _gemm_within(q, x, rows, radius)
    assert set(zip(qi.tolist(), ids.tolist())) == set(zip(want_q.tolist(), want_r.tolist()))
    assert len(qi) == len(want_q) > 3 * 700
    exact = np.sqrt(((q[qi] - x[ids]) ** 2).sum(1)) <= radius[ids] * 1.001  # a superset within the slack only
    assert exact.mean() > 0.99


def test_ids_must_be_new_and_distinct():
    index = TorchFlat(2)
    index.add(np.zeros((2, 2), np.float32), np.array([4, 7]))
    with pytest.raises(ValueError, match="new and distinct"):
        index.add(np.ones((1, 2), np.float32), np.array([7]))
    with pytest.raises(ValueError, match="new and distinct"):
        index.add(np.ones((2, 2), np.float32), np.array([9, 9]))
    assert index.ntotal == 2 and index.ids.tolist() == [4, 7]


def test_the_device_setting_picks_the_backend():
    cpu, torch_cpu, auto = (IndexSettings(device=d) for d in ("cpu", "torch-cpu", "auto"))
    assert backends(cpu) == ("faiss-cpu", "faiss-cpu") and not uses_gpu(cpu)
    assert backends(torch_cpu) == ("torch-cpu", "faiss-cpu") and not uses_gpu(torch_cpu)
    assert backends(auto)[0] == ("torch-cuda" if CUDA else "faiss-cpu")
    with pytest.raises(InvalidArgument) as err:
        RarityConfig(index=IndexSettings(device="tpu"))
    assert err.value.field == "device"
    # where work runs is no part of a stored config: an engine saved on a GPU machine loads anywhere
    assert "device" not in RarityConfig(index=torch_cpu).to_json()["index"]
    assert RarityConfig(index=torch_cpu) == RarityConfig(index=cpu)
    old = RarityConfig().to_json()
    old["index"]["use_gpu"] = True  # written before the device setting
    assert RarityConfig.from_json(old, device="torch-cpu").index.device == "torch-cpu"


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_refused():
    with pytest.raises(InvalidArgument) as err:
        RarityEngine("t", frame_dim=4, config=RarityConfig(index=IndexSettings(device="cuda")))
    assert err.value.field == "device" and "auto or cpu" in str(err.value)


def split_adds(x: np.ndarray, config: RarityConfig, parts: int = 6) -> RarityEngine:
    engine = RarityEngine("t", frame_dim=x.shape[1], config=config)
    for i, part in enumerate(np.array_split(np.arange(len(x)), parts)):
        engine.add("frame", x[part], snapshot=f"s{i}", world=f"w{i % 2}")
    return engine


def every_score(engine: RarityEngine, n: int, parts: int = 6, skip: tuple = ()) -> list:
    out = []
    for i, part in enumerate(np.array_split(np.arange(n), parts)):
        if f"s{i}" not in skip:
            out += [engine.rarity_of(VectorId(f"s{i}", "frame", j)) for j in range(len(part))]
    return out


def lists(engine: RarityEngine) -> tuple[np.ndarray, np.ndarray]:
    pop = engine.population("frame")
    return pop.graph.nbr[: pop.n_rows].copy(), pop.graph.dist[: pop.n_rows].copy()


def assert_same_engine(ours: RarityEngine, ref: RarityEngine, n: int, *, exact: bool, skip: tuple = ()) -> None:
    """Same k-NN lists and scores. ``exact``: identical. Otherwise (another GEMM, on a GPU) at most 1% of the
    lists may differ, only at near ties (each differing list's k-th distance within 1e-4), and every k-th
    distance matches to 1e-4: selection by float32 GEMM distances is exact only up to their rounding."""
    (na, da), (nb, db) = lists(ours), lists(ref)
    a, b = every_score(ours, n, skip=skip), every_score(ref, n, skip=skip)
    if exact:
        np.testing.assert_array_equal(na, nb)
        np.testing.assert_array_equal(da, db)
        assert a == b
        return
    differ = (na != nb).any(axis=1)
    assert differ.mean() <= 0.01
    np.testing.assert_allclose(da[:, -1], db[:, -1], rtol=1e-4)
    np.testing.assert_allclose([s.knn_distance for s in a], [s.knn_distance for s in b], rtol=1e-4)
    assert [s.id for s in a] == [s.id for s in b]


@pytest.mark.parametrize("device", ["torch-cpu", pytest.param("cuda", marks=needs_cuda)])
def test_the_engine_on_torch_scores_as_on_faiss(device):
    x, _ = DATASETS["local"]()
    x = np.vstack([x, x[:5]])  # exact duplicates share a point: they cannot fake density on either backend
    ours = split_adds(x, RarityConfig(index=IndexSettings(device=device)))
    ref = split_adds(x, RarityConfig(index=IndexSettings(device="cpu")))
    exact = device == "torch-cpu"
    stats = ours.stats()["frame"]
    assert stats.backend == ("torch-cpu" if exact else "torch-cuda")
    assert ref.stats()["frame"].backend == "faiss-cpu" and stats.points == len(x) - 5
    mirror = ours.population("frame").index._torch  # the torch index served, and stayed in step with FAISS
    assert mirror is not None and mirror.ntotal == stats.points
    assert_same_engine(ours, ref, len(x), exact=exact)
    # ad hoc scores, neighbours of an id (itself left out by id) and of a vector
    q = x[:20] + np.float32(0.05)
    near = ours.neighbors(VectorId("s0", "frame", 3), k=15)
    assert VectorId("s0", "frame", 3) not in [n.id for n in near] and len(near) == 15
    if exact:
        assert ours.score("frame", q) == ref.score("frame", q)
        assert near == ref.neighbors(VectorId("s0", "frame", 3), k=15)
        assert ours.neighbors(q[0], kind="frame") == ref.neighbors(q[0], kind="frame")
    # removals: the lists that held the removed points are searched again on the torch index
    for engine in (ours, ref):
        engine.remove_snapshot("s2")
    assert mirror.ntotal == ours.stats()["frame"].points
    assert_same_engine(ours, ref, len(x), exact=exact, skip=("s2",))
    ours.rebuild(), ref.rebuild()
    assert_same_engine(ours, ref, len(x), exact=exact, skip=("s2",))


def test_past_the_exact_limit_the_ivf_index_stays_faiss():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("t", frame_dim=x.shape[1],
                          config=RarityConfig(index=IndexSettings(exact_limit=600, device="torch-cpu")))
    engine.add("frame", x, snapshot="s", world="w")
    stats = engine.stats()["frame"]
    assert stats.index_kind == "ivf" and stats.backend == "faiss-cpu"
    assert engine.population("frame").index._torch is None


def test_a_loaded_flat_index_is_mirrored_on_first_search(tmp_path):
    blobs_module = pytest.importorskip("multiverse.blobs")  # the blob store's own dependencies (minio, ...)
    x, _ = DATASETS["tiny"]()
    engine = split_adds(x, RarityConfig(index=IndexSettings(device="cpu")))
    blobs = blobs_module.open_blob_store(str(tmp_path / "blobs"))
    loaded = RarityEngine.load(blobs, engine.save(blobs), device="torch-cpu")
    index: VectorIndex = loaded.population("frame").index
    assert index.backend == "torch-cpu" and index._torch is None
    q = x[::7] + np.float32(0.01)
    assert loaded.score("frame", q) == engine.score("frame", q)
    assert index._torch is not None and index._torch.ntotal == index.ntotal == len(x)
    loaded.add("frame", q, snapshot="new", world="w")
    engine.add("frame", q, snapshot="new", world="w")
    assert every_score(loaded, len(x)) == every_score(engine, len(x))
