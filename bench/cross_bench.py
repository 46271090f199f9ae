"""Benchmark: crossing two 64 MB worlds end to end through the embedded service, against the kernel alone.

An in-process gRPC server over SQLite + a local blob directory (the embedded topology). Two parents of
--mb MB each (Oasis-like latents: [T, 16, 18, 32] float16) share a base, so ``ties`` finds its merge base
by the lineage. The embedded rarity service (which scores every committed snapshot in the background) is
let go idle before each measurement. Each cross is timed from the client's call to its result: resolve, load (read + verify +
decode), merge, players, encode, blob put (hash + write + fsync), commit. In the same run the kernel alone
(``merge_kernels.apply`` on the same decoded tensors, same parameters and seed) is timed. Every repeat uses
another seed, so every cross stores a new state (no deduplication flatters the figures).

The last line is JSON: seconds per cross (best of --repeats), kernel seconds, ratio end-to-end / kernel,
the stage split seen from the progress stream, the targets and whether each is met, and ``floor_ratio``: the
ratio no implementation can beat on this machine while it verifies the parents' sha256 on read and names the
child by its sha256 (kernel + that hashing spread over every core, with nothing else: no read, write, fsync,
statistics or commit).

    python bench/cross_bench.py              # 64 MB parents
    python bench/cross_bench.py --mb 8 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import merge_kernels as mk
from multiverse.app import App
from multiverse.client import Client
from multiverse.config import Limits, Settings
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import decode_state
from multiverse.state.synth import synth_state
from multiverse.store.auth import ensure_admin_key
from services.server import build_server

FRAME = (16, 18, 32)
CASES = {"slerp": {"t": 0.4}, "ties": {"density": 0.2}, "crossover_kpoint": {"k": 3}}
TARGET_S = {"slerp": 1.0, "ties": 2.0, "crossover_kpoint": 1.0}
TARGET_RATIO = 3.0


def fork(app: App, world: str, data: bytes, parent: SnapshotRecord) -> SnapshotRecord:
    """A world whose first state descends from another world's snapshot (a fork), committed directly."""
    digest = app.blobs.put_bytes(data)
    _, info = decode_state(data)
    body = SnapshotRecord("", world, (parent.id,), digest, len(data), info.frame_count, info.player_count,
                          parent.generation + 1, time.time(), {"kind": "save", "by": "bench"}).body()
    record = SnapshotRecord(id="", **{**body, "parents": tuple(body["parents"])}).sealed()
    return app.meta.commit_snapshot(record, head="main", expected=None)[0]


def perturbed(base: bytes, space: SpaceRecord, seed: int, scale: float = 0.5) -> bytes:
    """The base state with its frames moved by seeded noise (a descendant that diverged)."""
    from multiverse.state.format import encode_state

    tensors, info = decode_state(base)
    g = torch.Generator().manual_seed(seed)
    frames = (tensors["frames"].float() + scale * torch.randn(tensors["frames"].shape, generator=g)).half()
    return encode_state(frames, tensors["players"], space=space.name, players=info.players, timeline=info.timeline)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=64.0, help="size of each parent's state (MB)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    frame_bytes = 2 * FRAME[0] * FRAME[1] * FRAME[2]
    frames = max(4, int(args.mb * 1e6) // frame_bytes)
    space = SpaceRecord("oasis-bench", FRAME, "float16", 64, max_players=16)

    with tempfile.TemporaryDirectory(prefix="cross-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), grpc_addr="127.0.0.1:0", workers=4,
                            limits=Limits(max_state_bytes=1 << 30, max_frames=1 << 20))
        app = App.open(settings)
        token = ensure_admin_key(app.meta, settings.data_dir)
        server, port = build_server(app, settings.grpc_addr)
        server.start()
        try:
            with Client(f"127.0.0.1:{port}", token) as admin:
                result = run(app, admin, space, frames, args.repeats)
        finally:
            server.stop(grace=None).wait()
            app.close()
    print(json.dumps(result))


def run(app: App, admin: Client, space: SpaceRecord, frames: int, repeats: int) -> dict:
    admin.register_space(space.name, space.frame_shape, space.dtype, space.player_dim, max_players=16)
    for w in ("a", "b"):
        admin.create_world(w, space.name)
    base_bytes = synth_state(space, frames=frames, players=4, seed=1)
    base = admin.save_snapshot("a", base_bytes).snapshot
    a_bytes, b_bytes = perturbed(base_bytes, space, 2), perturbed(base_bytes, space, 3)
    admin.save_snapshot("a", a_bytes, expected_parent=base.id)
    fork(app, "b", b_bytes, app.meta.get_snapshot(base.id))
    size_mb = len(a_bytes) / 1e6

    ta, tb, tbase = (decode_state(x)[0]["frames"] for x in (a_bytes, b_bytes, base_bytes))
    hashing = hash_seconds([a_bytes, b_bytes, a_bytes])  # the two parents read, a child of the same size stored
    out: dict = {"bench": "cross", "parent_mb": round(size_mb, 1), "frames": frames, "frame_shape": list(FRAME),
                 "dtype": "float16", "threads": torch.get_num_threads(), "ops": {},
                 "sha256_seconds": round(hashing, 4), "cores": os.cpu_count()}
    for op, params in CASES.items():
        needs_base = mk.get_operator(op).needs_base
        kernel, e2e, stages = [], [], []
        for r in range(repeats):
            _quiet(app)
            started = time.perf_counter()
            mk.apply(op, [ta, tb], base=tbase if needs_base else None, params=params, seed=r)
            kernel.append(time.perf_counter() - started)
            seen: list[tuple[str, float]] = []
            _quiet(app)
            started = time.perf_counter()
            result = admin.cross(["a", "b"], name=f"{op}-{r}", op=op, params=params, seed=r,
                                 progress=lambda stage, f, seen=seen: seen.append((stage, time.perf_counter())))
            e2e.append(time.perf_counter() - started)
            assert result.created and (not needs_base or json.loads(result.snapshot.provenance_json)["base"] == base.id)
            stages.append(_split(started, seen, started + e2e[-1]))
        best = min(range(repeats), key=lambda i: e2e[i])
        k = min(kernel)
        out["ops"][op] = {
            "seconds": round(e2e[best], 4),
            "kernel_seconds": round(k, 4),
            "ratio": round(e2e[best] / k, 2),
            "stages": stages[best],
            "target_seconds": TARGET_S[op],
            "seconds_met": e2e[best] < TARGET_S[op],
            "ratio_met": e2e[best] / k <= TARGET_RATIO,
            # the least any cross can take: the kernel plus sha256 of the parents (verified on read) and of the
            # child (its name), spread over every core with nothing else (no read, write, fsync, statistics, commit)
            "floor_ratio": round((k + hashing / (os.cpu_count() or 1)) / k, 2),
            "target_met": e2e[best] < TARGET_S[op] and e2e[best] / k <= TARGET_RATIO,
        }
    out["target_ratio"] = TARGET_RATIO
    out["all_targets_met"] = all(v["target_met"] for v in out["ops"].values())
    return out


def hash_seconds(blobs: list[bytes]) -> float:
    """Seconds to sha256 ``blobs`` one after another on one core (best of three)."""
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for blob in blobs:
            hashlib.sha256(blob).digest()
        best = min(best, time.perf_counter() - started)
    return best


def _quiet(app: App) -> None:
    """Let the embedded rarity service finish scoring what was committed, so it does not share the CPU with
    the next measurement (it scores every new snapshot in the background, in this process)."""
    if app.rarity is not None:
        app.rarity.wait_idle(timeout=600.0)


def _split(started: float, seen: list[tuple[str, float]], ended: float) -> dict:
    """Seconds from each progress event to the next: what the stage named by the event took."""
    marks = [("call", started), *seen, ("end", ended)]
    split: dict[str, float] = {}
    for (stage, t0), (_, t1) in itertools.pairwise(marks):
        split[stage] = round(split.get(stage, 0.0) + t1 - t0, 4)
    split.pop("done", None)
    return split


if __name__ == "__main__":
    main()
