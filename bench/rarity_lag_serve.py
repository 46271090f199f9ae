"""The server of bench/rarity_lag_bench.py: the embedded App as ``multiverse up`` builds it (Settings from the
MULTIVERSE_* variables and flags, ``App.open``, ``build_server``), serving gRPC on a free port until its stdin
closes. Prints ``gRPC host:port`` once serving. ``--profile`` profiles the rarity worker's thread (cProfile over
its scoring, rebuilds and flushes) and prints the top functions by cumulative time to stderr at the end: where a
slow worker's time goes.

    .venv/bin/python bench/rarity_lag_serve.py --data DIR [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from multiverse.app import App  # noqa: E402
from multiverse.config import Settings  # noqa: E402
from multiverse.rarity.service import RarityService  # noqa: E402
from multiverse.store.auth import ensure_admin_key  # noqa: E402
from services.server import build_server  # noqa: E402


def profile_worker() -> cProfile.Profile:
    """Profile every call of the worker's heavy steps (they run on its one thread, so one profile serves)."""
    prof = cProfile.Profile()
    for name in ("_score", "_rebuild", "flush"):
        inner = getattr(RarityService, name)

        @functools.wraps(inner)
        def wrapped(self, *args, __inner=inner, **kwargs):
            if getattr(self, "_profiling", False):  # a flush inside a profiled _score: already counted
                return __inner(self, *args, **kwargs)
            self._profiling = True
            prof.enable()
            try:
                return __inner(self, *args, **kwargs)
            finally:
                prof.disable()
                self._profiling = False

        setattr(RarityService, name, wrapped)
    return prof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    prof = profile_worker() if args.profile else None
    settings = Settings.from_env(flags={"data": args.data, "listen": "127.0.0.1:0"})
    app = App.open(settings)
    try:
        ensure_admin_key(app.meta, settings.data_dir)
        server, port = build_server(app, settings.grpc_addr)
        gc.collect()  # as `multiverse serve` does once started (multiverse/cli/serve.py)
        gc.freeze()
        server.start()
        print(f"gRPC 127.0.0.1:{port}", flush=True)
        sys.stdin.read()  # until the bench closes our stdin
        server.stop(grace=1.0).wait()
    finally:
        app.close()
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue(), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
