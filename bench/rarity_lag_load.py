"""The load side of bench/rarity_lag_bench.py: simulated servers that save on a schedule, the prober that times
each save's rarity lag, the reader that times reads meanwhile, and the new-space case of two big snapshots."""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from multiverse.client import Client
from multiverse.errors import NotFound
from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state
from multiverse.state.synth import synth_state

SPACE = SpaceRecord("lagbench", (16, 18, 32), "float16", 64)  # tileworld-shaped
FRAME_BYTES = 16 * 18 * 32 * 2
BIG = SpaceRecord("lagbig", (128,), "float32", 0)


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile of sorted ``xs`` (nearest rank; 0 when empty)."""
    return xs[min(len(xs) - 1, int(len(xs) * q / 100))] if xs else 0.0


class Recorder:
    """Times each committed snapshot's lag to scored (the prober) and reads meanwhile (the reader)."""

    def __init__(self, address: str, token: str, *, probe_s: float = 0.05, read_s: float = 0.1,
                 spaces: tuple[str, ...] = (SPACE.name,)) -> None:
        self.address, self.token, self.probe_s, self.read_s, self.spaces = address, token, probe_s, read_s, spaces
        self.pending: dict[str, float] = {}  # snapshot -> when its save replied
        self.lags: dict[str, float] = {}
        self.reads: list[tuple[float, bool, str]] = []  # (seconds, while scoring, call)
        self.probes: list[float] = []
        self.last_scored = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._probe, daemon=True),
                         threading.Thread(target=self._read, daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def committed(self, snapshot: str, at: float) -> None:
        with self._lock:
            self.pending[snapshot] = at

    def wait_all_scored(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.pending:
                    return True
            time.sleep(0.1)
        return False

    def _probe(self) -> None:
        with Client(self.address, self.token, timeout=120) as c:
            while not self._stop.is_set():
                with self._lock:
                    order = sorted(self.pending.items(), key=lambda kv: kv[1])
                for snap, at in order:  # scored in commit order: stop at the first that is not yet
                    t = time.perf_counter()
                    try:
                        c.rarity_of(snap, "frame", 0, brief=True)
                    except NotFound:
                        self.probes.append(time.perf_counter() - t)
                        break
                    now = time.perf_counter()
                    self.probes.append(now - t)
                    with self._lock:
                        self.lags[snap] = now - at
                        del self.pending[snap]
                        self.last_scored = snap
                self._stop.wait(self.probe_s)

    def _read(self) -> None:
        with Client(self.address, self.token, timeout=120) as c:
            while not self._stop.is_set():
                for space in self.spaces:
                    self._timed("TopRare", lambda: c.top_rare(space, limit=20))
                    self._timed("Stats", lambda: c.rarity_stats(space))
                if self.last_scored:
                    self._timed("RarityOf", lambda: c.rarity_of(self.last_scored, "frame", 1, brief=True))
                self._stop.wait(self.read_s)

    def _timed(self, name: str, call) -> None:
        with self._lock:
            busy = bool(self.pending)
        t = time.perf_counter()
        try:
            call()
        except NotFound:  # a space with nothing scored yet
            pass
        self.reads.append((time.perf_counter() - t, busy, name))


class Saver:
    """``servers`` simulated servers, each saving a ~``mb`` MB snapshot once a second into its own world."""

    def __init__(self, admin: Client, token: str, rec: Recorder, *, servers: int, seconds: int, mb: float) -> None:
        self.admin, self.token, self.rec, self.servers, self.seconds = admin, token, rec, servers, seconds
        self.frames = max(1, int(mb * 1_000_000) // FRAME_BYTES)
        self.snapshot_bytes = len(self._state(0, 0))
        self.latencies: list[float] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()

    def _state(self, server: int, i: int) -> bytes:
        return synth_state(SPACE, frames=self.frames, players=4, seed=server * 1_000_003 + i)

    def run(self) -> None:
        self.admin.register_space(SPACE.name, SPACE.frame_shape, SPACE.dtype, SPACE.player_dim)
        for n in range(self.servers):
            self.admin.create_world(f"lag{n}", SPACE.name)
        t0 = time.monotonic() + 0.5
        threads = [threading.Thread(target=self._server, args=(n, t0)) for n in range(self.servers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _server(self, n: int, t0: float) -> None:
        parent = ""
        with Client(self.admin.target, self.token, timeout=120) as c:
            for i in range(self.seconds):
                state = self._state(n, i)
                wait = t0 + i + n / self.servers - time.monotonic()  # staggered, once a second
                if wait > 0:
                    time.sleep(wait)
                t = time.perf_counter()
                try:
                    snap = c.save_snapshot(f"lag{n}", state, expected_parent=parent).snapshot
                except Exception as exc:  # noqa: BLE001 - a lost save is counted, never hidden
                    with self._lock:
                        self.failed.append(repr(exc)[:200])
                    continue
                done = time.perf_counter()
                self.rec.committed(snap.id, done)
                parent = snap.id
                with self._lock:
                    self.latencies.append(done - t)


def big_case(address: str, token: str, n: int) -> dict:
    """Two snapshots of ``n`` x 128 float32 into a new space: seconds until both are scored, reads meanwhile."""
    rng = np.random.default_rng(7)
    states = [encode_state(torch.from_numpy(rng.standard_normal((n, 128), dtype=np.float32)),
                           torch.zeros((0, 0)), space=BIG.name, players=[], timeline=[]) for _ in range(2)]
    rec = Recorder(address, token, spaces=(SPACE.name, BIG.name))
    with Client(address, token, timeout=600) as admin:
        admin.register_space(BIG.name, BIG.frame_shape, BIG.dtype, BIG.player_dim)
        admin.create_world("big", BIG.name)
        rec.start()
        parent, first = "", None
        for state in states:
            snap = admin.save_snapshot("big", state, expected_parent=parent).snapshot
            parent, first = snap.id, first or time.perf_counter()
            rec.committed(snap.id, time.perf_counter())
        done = rec.wait_all_scored(1800)
        scored = time.perf_counter() - first
        rec.stop()
    reads = sorted(t for t, busy, _ in rec.reads if busy)
    return {"big_vectors": 2 * n, "big_all_scored": done, "big_scored_s": round(scored, 1),
            "big_reads_while_scoring": len(reads), "big_read_p50_ms": round(1000 * pct(reads, 50), 1),
            "big_read_p99_ms": round(1000 * pct(reads, 99), 1),
            "big_read_max_ms": round(1000 * reads[-1], 1) if reads else None}
