"""Split topology against the embedded one (issue 18): the same game servers' saves, the same machine, one run.

``--servers`` simulated game servers each save a ~``--mb`` MB synthetic state (a tileworld-shaped space, (16, 18, 32)
float16, 4 player vectors of 64; a new state each save) into their own world for ``--seconds`` seconds, back to
back (``--interval`` 0) or every ``--interval`` seconds, each through one client, first against the embedded stack
(``multiverse up --no-demo``: one process, SQLite, local blobs) and then against the split topology
(tests/topology/cluster.py: PostgreSQL, SeaweedFS, anvil, two store replicas behind a balanced client, two rarity
workers, a crossing service, two market processes, the gateway, each its own process). A prober asks the Rarity
service (the split's two workers, balanced) for each saved snapshot's first frame every ``--probe-ms``: the rarity
lag of a snapshot is from its save's reply (its commit) to the first probe that finds it scored
(bench/rarity_lag_load.py's Recorder). CPU seconds per process over the load say what limits each topology.

Last line: JSON with saves/s, save p50/p99 and rarity lag p50/p99 for both, the throughput ratio split/embedded
(target >= 0.8) and whether the split's lag p99 is under 5 s.

    .venv/bin/python bench/topology_bench.py [--servers 16] [--seconds 60] [--mb 1] [--interval 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.rarity_lag_load import SPACE, Recorder, pct  # noqa: E402
from bench.topology_load import Servers, cpu_by_process, cpu_delta, start_embedded  # noqa: E402

TARGET_RATIO, TARGET_LAG_P99_S = 0.8, 5.0


def measure(store: str, rarity, token: str, args: argparse.Namespace) -> dict:
    """Run the load against ``store`` (the store's replicas), probing ``rarity()`` (asked once the space exists: the
    address that scores it); the figures and CPU by process."""
    load = Servers(store, token, None, servers=args.servers, seconds=args.seconds, mb=args.mb, interval=args.interval)
    load.prepare()
    rec = load.rec = Recorder(rarity(), token, probe_s=args.probe_ms / 1000)
    rec.start()
    before = cpu_by_process()
    load.run()
    cpu = cpu_delta(before, cpu_by_process())
    drained = rec.wait_all_scored(args.drain_s)
    rec.stop()
    saves, lags = sorted(load.latencies), sorted(rec.lags.values())
    return {
        "saves": len(saves),
        "failed_saves": len(load.failed),
        "saves_per_s": round(len(saves) / load.wall, 2),
        "mb_per_s": round(len(saves) * load.snapshot_bytes / 1e6 / load.wall, 1),
        "save_p50_ms": round(1000 * pct(saves, 50), 1),
        "save_p99_ms": round(1000 * pct(saves, 99), 1),
        "all_scored": drained and len(lags) == len(saves),
        "lag_p50_s": round(pct(lags, 50), 2),
        "lag_p99_s": round(pct(lags, 99), 2),
        "lag_max_s": round(lags[-1], 2) if lags else None,
        "cpu_s": cpu,
        **({"first_failure": load.failed[0]} if load.failed else {}),
    }


def embedded(tmp: Path, args: argparse.Namespace) -> dict:
    proc, address = start_embedded(tmp / "embedded")
    try:
        token = (tmp / "embedded" / "admin.key").read_text().strip()
        return measure(address, lambda: address, token, args)
    finally:
        proc.terminate()
        proc.wait(60)


def split(tmp: Path, args: argparse.Namespace) -> dict:
    from tests.topology.cluster import start_cluster, start_servers

    with start_servers(tmp) as (postgres_url, s3), start_cluster(tmp / "split", postgres_url, s3) as c:
        started = time.monotonic()
        holder: list[str] = []

        def scorer() -> str:
            """The worker holding the space's lease: it scores (the other serves the published index, seconds
            later; a balanced prober would stall at every NotFound from it and measure itself)."""
            deadline = time.monotonic() + 60
            while not (name := c.holder(f"rarity:{SPACE.name}")) and time.monotonic() < deadline:
                time.sleep(0.1)
            holder.append(name)
            return c.procs[name].address

        result = measure(c.address("store"), scorer, c.key, args)
        return {**result, "rarity_holder": holder[0], "measured_s": round(time.monotonic() - started, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--mb", type=float, default=1.0, help="size of each snapshot")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between a server's saves (0: back to back)")
    ap.add_argument("--probe-ms", type=float, default=50.0)
    ap.add_argument("--drain-s", type=float, default=300.0, help="how long to wait for rarity after the saves")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="topology-bench-") as tmp:
        emb = embedded(Path(tmp), args)
        print(json.dumps({"embedded": emb}), flush=True)
        spl = split(Path(tmp), args)
        print(json.dumps({"split": spl}), flush=True)

    ratio = spl["saves_per_s"] / emb["saves_per_s"] if emb["saves_per_s"] else 0.0
    result = {
        "bench": "topology",
        "servers": args.servers,
        "seconds": args.seconds,
        "interval_s": args.interval,
        "snapshot_mb": args.mb,
        **{f"{name}_{k}": v for name, r in (("embedded", emb), ("split", spl)) for k, v in r.items()
           if k not in ("cpu_s", "first_failure", "measured_s")},
        "throughput_ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "target_lag_p99_s": TARGET_LAG_P99_S,
        "split_cpu_s": spl["cpu_s"],
        "embedded_cpu_s": emb["cpu_s"],
    }
    result["target_met"] = bool(ratio >= TARGET_RATIO and spl["all_scored"] and spl["lag_p99_s"] < TARGET_LAG_P99_S
                                and not spl["failed_saves"] and not emb["failed_saves"])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
