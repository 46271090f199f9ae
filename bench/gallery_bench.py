"""The gallery under load: a space of 1,000,000 scored vectors browsed through a live HTTP gateway, against a
static file of the same size served by the same server, in one run.

1. Fill (``gallery_fill.py``): a 16-value latent space, 8 public worlds of 5 snapshots, N vectors (frames and
   player vectors) saved through the store; the App's rarity service rebuilds the index from them at start, as
   after any restart without a saved index, and saves it. Timed: the saves, the App's start and the scoring.
2. Serve (``gallery_serve.py``): that App behind ``services.http.app.create_app`` on uvicorn in its own process,
   the per-address rate limit set out of reach, plus ``/static/_bench/`` for same-size static files.
3. Load (``gallery_load.py``): ``--clients`` threads time GETs of each target for ``--requests`` requests or
   ``--seconds`` seconds, whichever ends first:

   - ``browse_first``: /api/rare?space=S (the first page, rarest first);
   - ``browse_deep``: the page reached by following next_cursor 50 times;
   - ``browse_tier``, ``browse_kind``, ``browse_world``: filtered first pages (tier=epic, kind=player, one world);
   - ``browse_mixed``: those filters and none, interleaved, as many players browsing at once send them;
   - ``vector_api``: /api/vectors/... and ``vector_page``: /v/... of 16 vectors from the first page;
   - ``picture``: /pictures/....png of the same 16, each rendered once before the timing (a cached picture);
   - ``static``: /static/_bench/, 16 files whose sizes are those 16 pictures' sizes.

Targets: the browse API's p95 (the slowest of the browse targets) at most 5x the static file's, and a cached
picture's p95 within 1.5x of it. A route that is not served (404 on a known vector) is reported as absent.

    .venv/bin/python bench/gallery_bench.py                     # N = 1,000,000 (about 5 minutes on 2 cores)
    .venv/bin/python bench/gallery_bench.py --vectors 20000 --requests 200

Last line: one JSON object with each target's p50/p95/p99 (ms), requests/s, the ratios and the fill's timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gallery_fill import SPACE, fill, world_names  # noqa: E402
from bench.gallery_load import get_json, measure  # noqa: E402

DEEP_PAGES, VECTORS = 50, 16
BROWSE = ("browse_first", "browse_deep", "browse_tier", "browse_kind", "browse_world", "browse_mixed")
TARGETS = {"browse_p95/static_p95": 5.0, "picture_p95/static_p95": 1.5}


def rare(**query: str) -> str:
    return "/api/rare?" + urlencode({"space": SPACE.name, **query})


def deep_page(url: str, pages: int) -> tuple[str, float, int]:
    """(the path of the page reached by following next_cursor ``pages`` times, seconds the walk took, pages
    walked); fewer pages when the ranking ends first."""
    path, started, walked = rare(), time.perf_counter(), 0
    for _ in range(pages):
        status, body = get_json(url, path)
        cursor = body.get("next_cursor") if status == 200 and isinstance(body, dict) else ""
        if not cursor:
            break
        path, walked = rare(cursor=cursor), walked + 1
    return path, time.perf_counter() - started, walked


def vector_paths(url: str) -> list[tuple[str, str, str]]:
    """(api path, page path, picture path) of up to VECTORS vectors of the first page, rarest first."""
    status, body = get_json(url, rare(limit=str(VECTORS)))
    if status != 200 or not isinstance(body, dict):
        raise SystemExit(f"GET {rare()} answered {status}: {body}")
    out = []
    for card in body.get("items", [])[:VECTORS]:
        tail = f"{card['snapshot']}/{card['kind']}/{card['index']}"
        out.append((f"/api/vectors/{tail}", card.get("url") or f"/v/{tail}",
                    card.get("picture") or f"/pictures/{tail}.png"))
    return out


def pictures_and_static(url: str, pictures: list[str], static_dir: Path, static_url: str) -> tuple[list[str], bool]:
    """Render each picture once (the first request stores it), write a static file of each one's size; returns
    the static paths and whether the pictures are served."""
    from bench.gallery_load import client

    served, paths = True, []
    with client(url) as http:
        for i, path in enumerate(pictures):
            answer = http.get(path)
            served &= answer.status_code == 200
            size = len(answer.content) if answer.status_code == 200 else 4096  # absent: a typical picture's size
            (static_dir / f"f{i}.png").write_bytes(bytes(b % 251 for b in range(size)))
            paths.append(f"{static_url}/f{i}.png")
    return paths, served


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=1_000_000, help="vectors in the space (frames + players)")
    ap.add_argument("--requests", type=int, default=2000, help="timed requests per target (at most)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds per target (at most)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument("--data", type=Path, default=None,
                    help="data directory, kept (default: a temporary one, removed); a second run on a filled one skips "
                    "the fill (delete its chain/ when the contracts changed since)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    data = args.data or tmp / "data"
    static = tmp / "static"
    static.mkdir()
    try:
        report = run(args, data, static)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report))


def run(args: argparse.Namespace, data: Path, static: Path) -> dict:
    fresh = not (data / "multiverse.db").exists()
    filled = fill(data, args.vectors) if fresh else None
    if filled:
        print(f"fill: {filled.n_vectors} vectors ({filled.n_frames} frames, {filled.n_players} players) in "
              f"{filled.snapshots} snapshots, {filled.state_bytes / 1e6:.1f} MB saved in {filled.save_s:.1f} s",
              flush=True)
    log = static.parent / "server.log"  # the server's log: a traceback there is a 500 the bench saw
    with open(log, "w") as errors:
        server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "gallery_serve.py"), str(data), str(static)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        line = server.stdout.readline()
        if not line:
            raise SystemExit(f"the gallery server did not start (exit {server.wait()})")
        up = json.loads(line)
        url = up["url"]
        n = sum(kind["n"] for kind in up["rarity"][SPACE.name].values())
        print(f"served at {url}: App open {up['open_s']} s, scoring {up['score_s']} s, {n} vectors scored",
              flush=True)
        out = load(args, url, up, static, filled, n)
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        logged = log.read_text(errors="replace")
        if "Traceback" in logged:
            last = logged[logged.rindex("Traceback"):]
            print(f"the server logged {logged.count('Traceback')} tracebacks; the last:\n{last[-2000:]}", flush=True)
    out["server_tracebacks"] = logged.count("Traceback")
    return out


def load(args: argparse.Namespace, url: str, up: dict, static: Path, filled, n_scored: int) -> dict:
    vectors = vector_paths(url)
    deep, walk_s, walked = deep_page(url, DEEP_PAGES)
    print(f"deep page: {walked} pages followed in {walk_s:.2f} s", flush=True)
    static_paths, pictures_served = pictures_and_static(url, [v[2] for v in vectors], static, up["static"])
    targets = {
        "static": static_paths,
        "browse_first": [rare()],
        "browse_deep": [deep],
        "browse_tier": [rare(tier="epic")],
        "browse_kind": [rare(kind="player")],
        "browse_world": [rare(world=world_names()[3])],
        # real traffic mixes filters: unfiltered, one world, a tier, another world, round robin
        "browse_mixed": [rare(), rare(world=world_names()[3]), rare(tier="epic"), rare(world=world_names()[5])],
        "vector_api": [v[0] for v in vectors],
        "vector_page": [v[1] for v in vectors],
        "picture": [v[2] for v in vectors],
        "static_again": static_paths,  # the anchor once more, after the rest: drift shows here
    }
    results = {}
    for name, paths in targets.items():
        first, _ = get_json(url, paths[0])
        if first == 404 and name not in ("static", "static_again"):
            results[name] = {"absent": True}
            print(f"{name:13s} absent (404)", flush=True)
            continue
        r = measure(url, name, paths, clients=args.clients, requests=args.requests, seconds=args.seconds)
        results[name] = r.summary()
        print(f"{name:13s} p50 {r.p50_ms:8.2f} ms  p95 {r.p95_ms:8.2f} ms  {r.rps:8.1f} req/s  n={r.requests}"
              f"  errors={r.errors}  {r.bytes} B {r.status[:120]}", flush=True)
    return report(args, up, filled, n_scored, results, walk_s, walked, pictures_served)


def report(args, up, filled, n_scored, results, walk_s, walked, pictures_served) -> dict:
    static_p95 = min(results["static"]["p95_ms"], results["static_again"]["p95_ms"])
    browse = [results[b]["p95_ms"] for b in BROWSE if "p95_ms" in results[b]]
    ratios = {
        "browse_p95/static_p95": round(max(browse) / static_p95, 2) if browse else None,
        "picture_p95/static_p95": round(results["picture"]["p95_ms"] / static_p95, 2)
        if "p95_ms" in results["picture"] and pictures_served else None,
    }
    for b in BROWSE:
        if "p95_ms" in results[b]:
            ratios[f"{b}_p95/static_p95"] = round(results[b]["p95_ms"] / static_p95, 2)
    fill_s = (filled.save_s if filled else 0.0) + up["open_s"] + up["score_s"]
    return {
        "bench": "gallery", "n_vectors": n_scored, "clients": args.clients, "requests_per_target": args.requests,
        "seconds_per_target": args.seconds,
        "fill_seconds": round(fill_s, 1), "save_seconds": round(filled.save_s, 1) if filled else None,
        "open_seconds": up["open_s"], "score_seconds": up["score_s"],
        "deep_page": walked, "deep_walk_seconds": round(walk_s, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine stretches the tails
        "targets": results, "ratios": ratios,
        "targets_met": {name: (ratios[name] is not None and ratios[name] <= limit) for name, limit in TARGETS.items()},
    }


if __name__ == "__main__":
    main()
