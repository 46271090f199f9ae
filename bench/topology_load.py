"""The load side of bench/topology_bench.py: game servers saving back to back (or every ``interval`` seconds) through
one balanced client each, the embedded stack (``multiverse up --no-demo``) as a process, and CPU seconds per process
read from /proc, grouped by what the process is (a service of the split topology by its data dir's name, the
embedded stack, PostgreSQL, SeaweedFS, anvil, this bench's clients, and anything else on the machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from bench.rarity_lag_load import FRAME_BYTES, SPACE, Recorder
from multiverse.client import Client
from multiverse.state.synth import synth_state

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


class Servers:
    """``servers`` game servers, each saving a ~``mb`` MB synthetic state into its own world, compare-and-swap on
    the head it last saved, for ``seconds``: back to back (``interval`` 0) or once every ``interval`` seconds."""

    def __init__(self, store: str, token: str, rec: Recorder, *, servers: int, seconds: float, mb: float,
                 interval: float = 0.0) -> None:
        self.store, self.token, self.rec = store, token, rec
        self.servers, self.seconds, self.interval = servers, seconds, interval
        self.frames = max(1, int(mb * 1_000_000) // FRAME_BYTES)
        self.snapshot_bytes = len(synth_state(SPACE, frames=self.frames, players=4, seed=0))
        self.latencies: list[float] = []
        self.failed: list[str] = []
        self.wall = 0.0
        self._lock = threading.Lock()

    def prepare(self) -> None:
        with Client(self.store, self.token, timeout=120) as admin:
            admin.register_space(SPACE.name, SPACE.frame_shape, SPACE.dtype, SPACE.player_dim)
            for n in range(self.servers):
                admin.create_world(f"lag{n}", SPACE.name)

    def run(self) -> None:
        t0 = time.monotonic() + 0.5
        threads = [threading.Thread(target=self._server, args=(n, t0)) for n in range(self.servers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.wall = time.monotonic() - t0

    def _server(self, n: int, t0: float) -> None:
        parent, i = "", 0
        with Client(self.store, self.token, timeout=120) as c:
            time.sleep(max(0.0, t0 - time.monotonic() + n * max(self.interval, 0.05) / self.servers))
            while time.monotonic() < t0 + self.seconds:
                # a new state every save (~13 ms to make), as bench/rarity_lag_load.py saves: no chunk repeats
                state = synth_state(SPACE, frames=self.frames, players=4, seed=n * 1_000_003 + i)
                t = time.perf_counter()
                try:
                    snap = c.save_snapshot(f"lag{n}", state, expected_parent=parent).snapshot
                except Exception as exc:  # noqa: BLE001 - a lost save is counted, never hidden
                    with self._lock:
                        self.failed.append(repr(exc)[:200])
                    parent, i = c.heads(f"lag{n}").get("main", ""), i + 1
                    continue
                done = time.perf_counter()
                self.rec.committed(snap.id, done)
                parent, i = snap.id, i + 1
                with self._lock:
                    self.latencies.append(done - t)
                if self.interval:
                    time.sleep(max(0.0, t0 + i * self.interval + n * self.interval / self.servers - time.monotonic()))


def start_embedded(data: Path) -> tuple[subprocess.Popen, str]:
    """``multiverse up --no-demo`` (SQLite, local blobs, the in-process chain, the gateway) on free ports, as a
    process; (process, gRPC address) once it serves."""
    env = {**os.environ, "MULTIVERSE_HTTP_LISTEN": "127.0.0.1:0"}
    cmd = [sys.executable, "-m", "multiverse.cli", "up", "--no-demo", "--listen", "127.0.0.1:0", "--data", str(data)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("gRPC "):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, line.split()[1]
    raise SystemExit(f"multiverse up did not start (exit {proc.poll()})")


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """pid -> (what it is, CPU seconds so far) for every process on the machine."""
    found: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry.name)] = (_label(int(entry.name), [a.decode(errors="replace") for a in cmdline if a]),
                                  (int(fields[11]) + int(fields[12])) / TICK)  # utime + stime
    return found


def _label(pid: int, argv: list[str]) -> str:
    line = " ".join(argv)
    if pid == os.getpid():
        return "bench clients"
    if "multiverse.cli serve" in line and "--data" in argv:
        return Path(argv[argv.index("--data") + 1]).name  # the cluster's process name (store-a, rarity-b, ...)
    if "multiverse.cli up" in line:
        return "embedded"
    for word, label in (("postgres", "postgres"), ("weed", "seaweedfs"), ("anvil", "anvil")):
        if word in (argv[0] if argv else "") or line.startswith(word):
            return label
    return "other"


def cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent between two ``cpu_by_process`` readings, per label, most first."""
    spent: dict[str, float] = defaultdict(float)
    for pid, (label, seconds) in after.items():
        spent[label] += seconds - before.get(pid, (label, 0.0))[1]
    return {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v >= 0.05}
