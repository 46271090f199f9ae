"""Rarity engine speed and recall against scikit-learn's exact k-NN, measured side by side in one run.

1. Score N vectors of 128 dims (one bulk add: index build, every k-NN list, calibration, every score) and, in the
   same run, compute the same k-th neighbour distances with scikit-learn's ``NearestNeighbors`` (exact). Report
   both times, the speed-up, and the n-recall@k of our lists against scikit-learn's (the anchor: >= 10x at recall
   >= 0.95).
2. Build an index of M vectors, then time adding and scoring one new snapshot of 1,000 vectors into it (the
   incremental path every save takes: index add, its lists, the earlier lists it changes, its scores). Target:
   under 1 s for M = 1,000,000.

Data: a mixture of 1,000 Gaussian clusters of random spreads in 128 dims plus 1% uniform background (latent
frames cluster by scene; pure isotropic noise in 128 dims is the worst case for any index and no world model's
output). Seeded: the same run gives the same data.

    .venv/bin/python bench/rarity_bench.py            # N = 200,000 and M = 1,000,000 (several minutes on 2 cores)
    .venv/bin/python bench/rarity_bench.py --quick    # N = 20,000 and M = 100,000 (or RARITY_BENCH_QUICK=1)

``--device`` is the index's device setting (IndexSettings.device): "auto" (default: faiss-gpu for IVF where FAISS
has GPUs, torch CUDA for the exact index where torch sees CUDA), "cpu" (FAISS on the CPU), "cuda" (a GPU is
required), "torch-cpu". With a torch device ("cuda" without faiss-gpu, "torch-cpu") the exact limit defaults to
covering N and M, so every search is exact on the torch device (IVF stays FAISS); ``--exact-limit`` overrides it.

    python3 bench/rarity_bench.py --quick --device cuda     # on the GPU machine: torch CUDA exact search

3. Quality on one planted set of tests/rarity/data.py (``--planted``, default "manifold"): ROC-AUC and precision
   among the top 1% of the main score and of every peer (bench/rarity_peers.py: scikit-learn's k-th neighbour
   distance, LOF k=10 and k=20, IsolationForest, Han et al.'s Rarity Score), under "quality".

Last line: one JSON object (with "backend": what served the index's searches, and "gpu").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.rarity_peers import PEERS, table
from multiverse.rarity import IndexSettings, RarityConfig, RarityEngine
from multiverse.rarity.index import DEVICES, backends, uses_gpu
from multiverse.rarity.score import SCORING
from tests.rarity.data import DATASETS

DIM, K, SNAPSHOT = 128, 10, 1_000


def data(n: int, seed: int) -> np.ndarray:
    """(n, 128) float32: 1,000 clusters of spread 0.5-2 around centres in [-10, 10]^128, plus 1% background."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-3, 3, (1_000, DIM)).astype(np.float32)
    spread = rng.uniform(0.5, 2.0, 1_000).astype(np.float32)
    which = rng.integers(0, 1_000, n)
    x = centres[which] + spread[which, None] * rng.standard_normal((n, DIM), dtype=np.float32)
    background = rng.random(n) < 0.01
    x[background] = rng.uniform(-6, 6, (int(background.sum()), DIM)).astype(np.float32)
    return x


def score_all(x: np.ndarray, config: RarityConfig) -> tuple[RarityEngine, float, list]:
    started = time.perf_counter()
    engine = RarityEngine("bench", frame_dim=DIM, config=config)
    result = engine.add("frame", x, snapshot="all", world="bench")
    return engine, time.perf_counter() - started, result.scores


def sklearn_knn(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    started = time.perf_counter()
    dist, ids = NearestNeighbors(n_neighbors=K + 1, n_jobs=-1).fit(x).kneighbors(x)
    return time.perf_counter() - started, dist[:, -1], ids[:, 1:]


def recall(engine: RarityEngine, truth: np.ndarray) -> float:
    pop = engine.population("frame")
    ours = pop.graph.nbr[: len(truth)]  # one snapshot, no duplicates: row i is x[i]
    hits = [len(set(a) & set(b)) for a, b in zip(ours.tolist(), truth.tolist())]
    return float(np.sum(hits) / truth.size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("RARITY_BENCH_QUICK")),
                    help="N = 20,000 and M = 100,000")
    ap.add_argument("--n", type=int, default=0, help="vectors scored against scikit-learn (default 200,000)")
    ap.add_argument("--m", type=int, default=0, help="index size for the incremental snapshot (default 1,000,000)")
    ap.add_argument("--threads", type=int, default=0, help="FAISS threads (0: FAISS's default)")
    ap.add_argument("--device", choices=DEVICES, default="auto", help="where searches run (IndexSettings.device)")
    ap.add_argument("--exact-limit", type=int, default=0,
                    help="exact index up to this many points (default: N/2 on FAISS, N and M on a torch device)")
    ap.add_argument("--planted", choices=sorted(DATASETS), default="manifold",
                    help="the planted set of tests/rarity/data.py for the quality table")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 200_000)
    m = args.m or (100_000 if args.quick else 1_000_000)
    settings = IndexSettings(device=args.device)
    flat_backend, _ = backends(settings)
    if args.exact_limit:
        exact_limit = args.exact_limit
    elif flat_backend.startswith("torch"):  # exact search on the torch device for both parts
        exact_limit = max(n, m + 3 * SNAPSHOT)
    else:  # --quick keeps the full run's paths (IVF for the scored set) by lowering the exact-search limit with N
        exact_limit = min(100_000, n // 2)
    config = RarityConfig(k=K, threads=args.threads, index=IndexSettings(exact_limit=exact_limit, device=args.device))
    gpu = uses_gpu(config.index)
    print(f"rarity bench: N={n}, M={m}, dim={DIM}, k={K}, device={args.device}, exact_limit={exact_limit}, "
          f"gpu={gpu}", flush=True)

    x = data(n, seed=1)
    engine, ours_s, scores = score_all(x, config)
    stats = engine.stats()["frame"]
    scored_backend = stats.backend
    print(f"engine: {ours_s:.2f} s for {len(scores)} scores ({stats.index_kind} on {stats.backend}, nlist={stats.nlist}, "
          f"nprobe={stats.nprobe}, sampled recall {stats.measured_recall})", flush=True)
    sk_s, sk_kth, sk_ids = sklearn_knn(x)
    ours_kth = np.array([s.knn_distance for s in scores])
    rec = recall(engine, sk_ids)
    kth_err = float(np.median(np.abs(ours_kth - sk_kth) / np.maximum(sk_kth, 1e-12)))
    print(f"scikit-learn: {sk_s:.2f} s; speed-up {sk_s / ours_s:.1f}x; n-recall@{K} {rec:.4f}; "
          f"median relative k-th distance error {kth_err:.2e}", flush=True)
    del engine, scores

    big = data(m + SNAPSHOT, seed=2)
    started = time.perf_counter()
    engine = RarityEngine("bench", frame_dim=DIM, config=config)
    with engine.bulk():
        engine.add("frame", big[:m], snapshot="base", world="bench")
    build_s = time.perf_counter() - started
    stats = engine.stats()["frame"]
    print(f"built {m}: {build_s:.1f} s ({stats.index_kind} on {stats.backend}, nlist={stats.nlist}, "
          f"nprobe={stats.nprobe})", flush=True)
    latencies = []
    for i in range(3):  # three new snapshots, one after the other, as saves arrive
        snap = big[m:] + np.float32(0.01 * i)
        started = time.perf_counter()
        result = engine.add("frame", snap, snapshot=f"new{i}", world="bench")
        latencies.append(time.perf_counter() - started)
        assert len(result.scores) == SNAPSHOT
    incremental_s = float(np.median(latencies))
    print(f"incremental: {SNAPSHOT} vectors into {m} in {incremental_s:.3f} s (median of {latencies})", flush=True)

    quality = table(*DATASETS[args.planted]())
    best_auc = max(quality[p]["auc"] for p in PEERS)
    best_top1 = max(quality[p]["top1"] for p in PEERS)
    cells = ", ".join(f"{name} auc {q['auc']} top1 {q['top1']}" for name, q in quality.items())
    print(f"quality on {args.planted}: {cells}", flush=True)

    report = {
        "bench": "rarity", "n": n, "dim": DIM, "k": K, "gpu": gpu, "device": args.device,
        "backend": scored_backend, "incremental_backend": stats.backend, "exact_limit": exact_limit,
        "seconds": round(ours_s, 3), "sklearn_seconds": round(sk_s, 3), "speedup_vs_sklearn": round(sk_s / ours_s, 2),
        "recall_vs_exact": round(rec, 4), "index": stats.index_kind,
        "incremental_index_size": m, "incremental_snapshot": SNAPSHOT,
        "incremental_seconds": round(incremental_s, 4), "incremental_seconds_each": [round(t, 4) for t in latencies],
        "build_seconds": round(build_s, 2), "scoring": SCORING, "load_1min": round(os.getloadavg()[0], 2),
        "quality": {"set": args.planted, **quality},
        "targets_met": {"speedup>=10": sk_s / ours_s >= 10, "recall>=0.95": rec >= 0.95,
                        "incremental<1s": max(latencies) < 1.0,
                        "auc>=best_peer": quality["main"]["auc"] >= best_auc,
                        "top1>=best_peer": quality["main"]["top1"] >= best_top1},
    }
    print(json.dumps(report, separators=(",", ":")))


if __name__ == "__main__":
    main()
