"""Many game servers saving at once: ``--servers`` client processes each save a sliding context window (bench/
dedup_stream.py's stream: Oasis-shaped frames, ``--window`` frames sliding by 8 a save) back to back into a world of
their own, each with a key of its own, for ``--seconds`` seconds, on one embedded service (``multiverse serve
--services store,multiverse``: SQLite, local blobs). First every server saves by the Python client's chunked path, then, on a fresh service, the
same streams as whole files (``save_whole``: SaveSnapshot, what a client in another language sends): the anchor,
measured in the same run.

Each server builds its next state between saves (encoding it is not in the save's latency). With N servers
saving back to back, the mean latency is N / throughput: a bimodal latency (some saves stalled for seconds) shows
as a p50 far under that mean and a p99 far over it.

Last line: JSON with saves/s, p50/p99/mean save latency for both, and the throughput ratio chunked/whole-file.

    .venv/bin/python bench/saves_bench.py [--servers 16] [--seconds 30] [--window 128]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dedup_stream import SPACE, Stream, pct, serve  # noqa: E402
from multiverse.client import Client  # noqa: E402

READY_S = 60.0  # for every client process to start and build its states


def player(address: str, key: str, world: str, seed: int, saves: int, window: int, whole: bool, seconds: float,
           go: mp.Event, out: mp.Queue) -> None:
    """One game server: its frames made, then, once every server is ready (``go``), its states saved back to back
    for ``seconds``."""
    client = Client(address, key)
    stream = Stream(saves, window, 8, 4, seed=seed)
    out.put("ready")
    go.wait()
    lat, parent, began = [], "", time.time()
    stop_at = began + seconds
    for i in range(saves):
        if time.time() >= stop_at:
            break
        state = stream.state(i)  # the game server's own work: not in the save's latency
        t = time.perf_counter()
        save = client.save_whole if whole else client.save_snapshot
        parent = save(world, state, expected_parent=parent).snapshot.id
        lat.append(time.perf_counter() - t)
    out.put((lat, began, time.time()))


def phase(servers: int, seconds: float, window: int, whole: bool) -> dict:
    """One service, ``servers`` game servers saving for ``seconds``: the figures (the first 3 saves of each, which
    send their whole first window, left out of the latencies)."""
    saves = int(seconds * 250 / servers) + 4  # more than a server saves in the time (its frames are held in memory)
    with tempfile.TemporaryDirectory(prefix="saves-bench-") as tmp:
        data = Path(tmp) / "data"
        proc, address = serve(data)
        try:
            with Client(address, (data / "admin.key").read_text().strip()) as admin:
                admin.register_space(SPACE.name, SPACE.frame_shape, SPACE.dtype, SPACE.player_dim)
                keys = []  # a key of its own for each game server, which owns its world (limits are per key)
                for i in range(servers):
                    admin.create_world(f"game{i}", SPACE.name, owner=f"server{i}")
                    keys.append(admin.create_api_key(f"server{i}", "server").token)
            out: mp.Queue = mp.Queue()
            go = mp.Event()
            procs = [mp.Process(target=player, args=(address, keys[i], f"game{i}", i, saves, window, whole, seconds, go,
                                                     out)) for i in range(servers)]
            for p in procs:
                p.start()
            for _ in procs:
                assert out.get(timeout=READY_S) == "ready"
            go.set()
            results = [out.get(timeout=READY_S + seconds + 600) for _ in procs]
            for p in procs:
                p.join()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    lat = sorted(x for got, _, _ in results for x in got[3:])
    total = sum(len(got) for got, _, _ in results)
    span = max(end for _, _, end in results) - min(began for _, began, _ in results)
    return {"saves": total, "saves_per_s": round(total / span, 1), "p50_ms": round(1000 * pct(lat, 0.5), 1),
            "p99_ms": round(1000 * pct(lat, 0.99), 1), "mean_ms": round(1000 * statistics.mean(lat), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--window", type=int, default=128)
    args = ap.parse_args()
    began = time.perf_counter()
    chunked = phase(args.servers, args.seconds, args.window, whole=False)
    whole = phase(args.servers, args.seconds, args.window, whole=True)
    print(json.dumps({
        "bench": "saves", "servers": args.servers, "seconds": args.seconds, "window_frames": args.window,
        "state_mb": round(len(Stream(1, args.window, 8, 4).state(0)) / 1e6, 2),
        "chunked": chunked, "whole_file": whole,
        "throughput_ratio": round(chunked["saves_per_s"] / whole["saves_per_s"], 2),
        "wall_s": round(time.perf_counter() - began, 1),
    }))


if __name__ == "__main__":
    main()
