"""Reads never wait for scoring (issue 16, item 6): while the worker stages a long batch, TopRare, RarityOf,
Stats and Neighbors answer within a bounded time from the last published index version and say which; a batch
published beside concurrent readers leaves the lists a one-by-one build leaves; a calibration that a batch makes
due is fitted before it is published, so no read fits one."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np

from multiverse.errors import InvalidArgument
from multiverse.rarity import RarityEngine, VectorId
from tests.rarity.data import DATASETS

READ_LIMIT_S = 0.5
READ_SHARE = 0.2  # of the batch's time: a read may take at most this much of it (or READ_LIMIT_S)


def _engine(x: np.ndarray, parts: int) -> RarityEngine:
    engine = RarityEngine("t", frame_dim=x.shape[1])
    for i, part in enumerate(np.array_split(np.arange(len(x)), parts)):
        engine.add("frame", x[part], snapshot=f"s{i}", world="w")
    return engine


def test_reads_answer_from_the_published_version_while_a_long_batch_is_scored():
    rng = np.random.default_rng(0)
    engine = _engine(rng.standard_normal((8000, 128)).astype(np.float32), 1)
    before = engine.versions()["frame"]["index_version"]
    big = [(f"b{i}", "w", rng.standard_normal((1000, 128)).astype(np.float32), None) for i in range(10)]
    span: dict[str, float] = {}

    def score() -> None:
        span["start"] = time.perf_counter()
        engine.add_snapshots(big)  # as large as the population: every list is searched again
        span["end"] = time.perf_counter()

    writer = threading.Thread(target=score)
    # no full collection meanwhile: in the whole suite's process one walks every test's leftovers (0.8 s once), which
    # is not what this measures (`multiverse serve` freezes what start-up built: multiverse/cli/serve.py)
    gc.disable()
    try:
        writer.start()
        reads: list[tuple[float, float, str]] = []  # (started, seconds, index version answered from)
        seen: set[str] = set()
        while writer.is_alive():
            t = time.perf_counter()
            page, _ = engine.top_rare("frame", limit=20)
            one = engine.rarity_of(VectorId("s0", "frame", 7))
            stats = engine.stats()["frame"]
            near = engine.neighbors(VectorId("s0", "frame", 7), 5)
            took = time.perf_counter() - t
            assert len(near) == 5
            seen.update((page[0].index_version, one.index_version, stats.index_version))  # a publish may fall between
            reads.append((t, took, one.index_version))
        writer.join()
    finally:
        gc.enable()
    during = [(took, version) for t, took, version in reads if span["start"] <= t and t + took <= span["end"]]
    assert span["end"] - span["start"] > 1.0, "the batch should take long enough to read beside it"
    assert len(during) >= 5, f"only {len(during)} reads ran while the batch was scored"
    # A read that waited for the scoring would take about as long as the batch; each took a small share of it
    # (relative, so a busy machine that slows both does not fail it).
    span_s = span["end"] - span["start"]
    assert max(took for took, _ in during) < max(READ_LIMIT_S, READ_SHARE * span_s), (
        sorted(took for took, _ in during)[-3:], span_s)
    assert {version for _, version in during} | seen <= {before, engine.versions()["frame"]["index_version"]}
    assert during[0][1] == before  # the first reads answered from the version before the batch
    after = engine.rarity_of(VectorId("b9", "frame", 999))
    assert after.index_version != before and after.n == 18000


def test_batches_published_beside_readers_leave_the_lists_of_a_one_by_one_build():
    x, _ = DATASETS["combined"]()
    parts = np.array_split(np.arange(len(x)), 24)
    engine = RarityEngine("t", frame_dim=x.shape[1])
    engine.add("frame", x[parts[0]], snapshot="s0", world="w0")
    errors: list[BaseException] = []
    versions: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                page, _ = engine.top_rare("frame", limit=10)
                versions.add(page[0].index_version)
                engine.rarity_of(VectorId("s0", "frame", 3))
                engine.score("frame", x[:3])
                engine.stats()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for start in range(1, len(parts), 4):  # batches of up to four snapshots
            engine.add_snapshots([(f"s{i}", f"w{i % 2}", x[parts[i]], None)
                                  for i in range(start, min(start + 4, len(parts)))])
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert not errors, errors
    assert len(versions) > 1
    one_by_one = RarityEngine("t", frame_dim=x.shape[1])
    for i, part in enumerate(parts):
        one_by_one.add("frame", x[part], snapshot=f"s{i}", world=f"w{i % 2}" if i else "w0")
    a, b = engine.population("frame"), one_by_one.population("frame")
    np.testing.assert_array_equal(a.x[: a.n_rows], b.x[: b.n_rows])
    np.testing.assert_array_equal(a.graph.nbr[: a.n_rows], b.graph.nbr[: b.n_rows])
    np.testing.assert_array_equal(a.graph.dist[: a.n_rows], b.graph.dist[: b.n_rows])


def test_a_batch_embeds_together_what_one_by_one_embeds_alone_and_refuses_only_its_bad_snapshots():
    rng = np.random.default_rng(3)
    frames = [rng.standard_normal((n, 4, 40)).astype(np.float32) for n in (6, 1, 9, 4)]  # 160 values: projected
    frames[2][3] = frames[0][2]  # the same frame in two snapshots: one point
    bad = frames[3].copy()
    bad[1, 0, 0] = np.nan
    batch = RarityEngine("t", frame_dim=160, config=None)
    done, failed = batch.add_snapshots([("a", "w", frames[0], None), ("b", "w", frames[1], None),
                                        ("c", "w", frames[2], None), ("bad", "w", bad, None)])
    assert set(done) == {"a", "b", "c"} and set(failed) == {"bad"} and isinstance(failed["bad"], InvalidArgument)
    alone = RarityEngine("t", frame_dim=160)
    for name, f in zip("abc", frames):
        alone.add("frame", f, snapshot=name, world="w")
    a, b = batch.population("frame"), alone.population("frame")
    assert a.n_rows == b.n_rows == 6 + 1 + 9 - 1
    np.testing.assert_array_equal(a.x[: a.n_rows], b.x[: b.n_rows])
    np.testing.assert_array_equal(a.graph.nbr[: a.n_rows], b.graph.nbr[: b.n_rows])
    assert batch.rarity_of(VectorId("c", "frame", 3)).copies == 2
    assert not batch.has_snapshot("bad")


def test_a_calibration_a_batch_makes_due_is_published_with_it_and_no_read_refits():
    x, _ = DATASETS["global"]()
    engine = RarityEngine("t", frame_dim=x.shape[1])
    engine.add("frame", x[:1000], snapshot="s0", world="w")
    pop = engine.population("frame")
    first = pop.calibration
    engine.add_snapshots([("s1", "w", x[1000:1400], None)])  # +40%: the calibration is due
    fitted = pop.calibration
    assert fitted is not first and fitted.index_version == pop.index_version and fitted.n == 1400
    engine.top_rare("frame", limit=5)
    engine.stats()
    assert pop.calibration is fitted  # no read had to refit it
    refit = engine.calibrate()["frame"]  # the same population fits the same calibration
    assert (refit.floor, refit.n, refit.index_version) == (fitted.floor, fitted.n, fitted.index_version)
