"""Rarity lag: how long after a save its vectors are scored, and how long reads take meanwhile (issue 16, item 6).

The service runs as its own process (bench/rarity_lag_serve.py: the embedded App as ``multiverse up`` builds it,
with SQLite and local blobs), so that the simulated servers and the service do not share a GIL. ``--servers``
simulated servers each save a ~1 MB snapshot (synthetic frames of a tileworld-shaped space, (16, 18, 32) float16,
and 4 player vectors of 64) once a second for ``--seconds`` seconds, through gRPC. A prober asks ``RarityOf`` for
the first frame of the oldest unscored snapshots every ``--probe-ms``: the rarity lag of a snapshot is from its
save's reply (the commit is the last thing before it) to the first probe that finds it scored (an upper bound,
within a probe round). A reader meanwhile times ``TopRare``, ``Stats`` and ``RarityOf`` of a scored vector; a
read counts as "while scoring" when a save was not scored yet as it started.

``--big N`` (0: skip) then saves two snapshots of N vectors of 128 float32 each into a new space (the issue's
60,000 x 128 case) and reports the time until both are scored and the reads' latency meanwhile.

Last line: JSON with saves/s, save p50/p99, lag p50/p99/max, read p50/p99 while scoring, the big case's figures
and whether the lag p99 is under its target (10 s).

    .venv/bin/python bench/rarity_lag_bench.py [--servers 16] [--seconds 60] [--big 60000] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.rarity_lag_load import Recorder, Saver, big_case, pct  # noqa: E402
from multiverse.client import Client  # noqa: E402

TARGET_LAG_P99_S = 10.0


def serve(data: Path, *, profile: bool, market: bool) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "MULTIVERSE_MARKET": "on" if market else "off", "MULTIVERSE_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, str(ROOT / "bench" / "rarity_lag_serve.py"), "--data", str(data)]
    proc = subprocess.Popen(cmd + (["--profile"] if profile else []), cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("gRPC "):
            return proc, line.split()[1]
    raise SystemExit("the rarity lag server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--mb", type=float, default=1.0, help="size of each snapshot")
    ap.add_argument("--big", type=int, default=60_000, help="vectors per snapshot of the new-space case (0: skip)")
    ap.add_argument("--probe-ms", type=float, default=50.0)
    ap.add_argument("--drain-s", type=float, default=900.0, help="how long to wait for the backlog after the saves")
    ap.add_argument("--no-market", action="store_true", help="serve without the chain and market (a faster start)")
    ap.add_argument("--profile", action="store_true", help="print the rarity worker's profile (server's stderr)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="rarity-lag-") as tmp:
        proc, address = serve(Path(tmp) / "svc", profile=args.profile, market=not args.no_market)
        try:
            token = (Path(tmp) / "svc" / "admin.key").read_text().strip()
            with Client(address, token, timeout=120) as admin:
                rec = Recorder(address, token, probe_s=args.probe_ms / 1000)
                saver = Saver(admin, token, rec, servers=args.servers, seconds=args.seconds, mb=args.mb)
                rec.start()
                started = time.perf_counter()
                saver.run()
                wall = time.perf_counter() - started
                drained = rec.wait_all_scored(args.drain_s)
                rec.stop()
                big = big_case(address, token, args.big) if args.big else {}
        finally:
            proc.stdin.close()
            proc.wait(120)

    saves = sorted(saver.latencies)
    lags = sorted(rec.lags.values())
    reads = sorted(t for t, busy, _ in rec.reads if busy)
    result = {
        "bench": "rarity_lag",
        "servers": args.servers,
        "seconds": args.seconds,
        "snapshot_mb": round(saver.snapshot_bytes / 1e6, 2),
        "saves": len(saves),
        "failed_saves": len(saver.failed),
        "saves_per_s": round(len(saves) / wall, 1),
        "save_p50_ms": round(1000 * pct(saves, 50), 1),
        "save_p99_ms": round(1000 * pct(saves, 99), 1),
        "scored": len(lags),
        "all_scored": drained and len(lags) == len(saves),
        "lag_p50_s": round(pct(lags, 50), 2),
        "lag_p99_s": round(pct(lags, 99), 2),
        "lag_max_s": round(lags[-1], 2) if lags else None,
        "reads_while_scoring": len(reads),
        "read_p50_ms": round(1000 * pct(reads, 50), 1),
        "read_p99_ms": round(1000 * pct(reads, 99), 1),
        "read_max_ms": round(1000 * reads[-1], 1) if reads else None,
        "read_p99_ms_by_call": {name: round(1000 * pct(sorted(t for t, busy, n in rec.reads if busy and n == name), 99), 1)
                                for name in ("TopRare", "Stats", "RarityOf")},
        **big,
        "target_lag_p99_s": TARGET_LAG_P99_S,
    }
    result["target_met"] = bool(result["all_scored"] and lags and result["lag_p99_s"] < TARGET_LAG_P99_S
                                and not saver.failed)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
