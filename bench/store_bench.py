"""Store throughput: 64 MB snapshots through gRPC against the same bytes through the blob store directly.

The service runs as its own process (`multiverse up`, embedded: SQLite + local blobs) so that client and
server do not share a GIL; the direct path writes and reads the same bytes with the local blob store on the
same disk, in the same run. Then 8 concurrent clients save 1 MB snapshots and we report save latency.
Last line: JSON with MB/s both ways, the gRPC/direct ratios (target >= 0.5) and p50/p99 save latency.
Every save is scored for rarity by the service in the background; the loads are timed once that is done,
so that they measure the load path rather than its competition for the server's two cores.

    .venv/bin/python bench/store_bench.py [--mb 64] [--reps 3] [--clients 8] [--saves 20]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from multiverse.blobs import open_blob_store
from multiverse.client import Client
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state

SPACE = SpaceRecord("bench", (16, 18, 32), "float16", 64)
FRAME_BYTES = 16 * 18 * 32 * 2


def serve(data: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "multiverse.cli", "--data", str(data), "--grpc", "127.0.0.1:0", "up", "--no-demo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    for line in proc.stdout:
        if m := re.match(r"gRPC\s+(\S+)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("multiverse up did not start")


def wait_scored(client: Client, timeout_s: float = 120.0) -> None:
    """Until the service's rarity worker has scored every saved snapshot (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while client.rarity_stats(SPACE.name).pending and time.monotonic() < deadline:
        time.sleep(0.1)


def rate(nbytes: int, seconds: list[float]) -> float:
    return nbytes / statistics.median(seconds) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--saves", type=int, default=20)
    args = ap.parse_args()

    frames = args.mb * 1_000_000 // FRAME_BYTES
    states = [synth_state(SPACE, frames=frames, players=4, seed=s) for s in range(args.reps)]
    size = len(states[0])
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        tmp = Path(tmp)
        direct = open_blob_store(str(tmp / "direct"))
        put_s, get_s = [], []
        for state in states:
            t = time.perf_counter()
            digest = direct.put_bytes(state)
            put_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = b"".join(direct.open_chunks(digest))
            get_s.append(time.perf_counter() - t)
            assert got == state

        proc, address = serve(tmp / "svc")
        try:
            token = (tmp / "svc" / "admin.key").read_text().strip()
            admin = Client(address, token)
            admin.register_space(SPACE.name, SPACE.frame_shape, SPACE.dtype, SPACE.player_dim)
            admin.create_world("big", SPACE.name)
            save_s, load_s, snaps = [], [], []
            for state in states:
                t = time.perf_counter()
                snaps.append(admin.save_snapshot("big", state).snapshot)
                save_s.append(time.perf_counter() - t)
            wait_scored(admin)  # the server scores each save in the background: time the loads on their own
            for snap, state in zip(snaps, states):
                t = time.perf_counter()
                _, got = admin.load_snapshot(snap.id)
                load_s.append(time.perf_counter() - t)
                assert got == state

            small = [synth_state(SPACE, frames=1_000_000 // FRAME_BYTES, players=2, seed=1000 + i)
                     for i in range(args.saves)]
            latencies: list[float] = []
            failed: list[str] = []
            lock = threading.Lock()

            def client(n: int) -> None:
                world = f"w{n}"
                admin.create_world(world, SPACE.name)
                with Client(address, token) as c:
                    for state in small:
                        t = time.perf_counter()
                        try:
                            c.save_snapshot(world, state)
                        except Exception as exc:  # noqa: BLE001 - a lost save is counted, never hidden
                            with lock:
                                failed.append(repr(exc)[:200])
                            continue
                        with lock:
                            latencies.append(time.perf_counter() - t)

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)

    latencies.sort()
    result = {
        "bench": "store",
        "snapshot_mb": round(size / 1e6, 1),
        "grpc_save_mb_s": round(rate(size, save_s), 1),
        "grpc_load_mb_s": round(rate(size, load_s), 1),
        "direct_put_mb_s": round(rate(size, put_s), 1),
        "direct_read_mb_s": round(rate(size, get_s), 1),
        "save_ratio": round(rate(size, save_s) / rate(size, put_s), 3),
        "load_ratio": round(rate(size, load_s) / rate(size, get_s), 3),
        "concurrent_clients": args.clients,
        "concurrent_saves": len(latencies),
        "failed_saves": len(failed),
        "concurrent_saves_per_s": round(len(latencies) / wall, 1),
        "save_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "save_p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "target_ratio": 0.5,
    }
    result["target_met"] = result["save_ratio"] >= 0.5 and result["load_ratio"] >= 0.5 and not failed
    print(json.dumps(result))


if __name__ == "__main__":
    main()
