"""bench/gallery_bench.py on a tiny population: the fill stores and scores what it says, the gateway serves every
target with 200s, and the last line is the JSON report with each target's figures and the ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.gallery_fill import PLAYERS, SNAPSHOTS, WORLDS, frames_per_snapshot

ROOT = Path(__file__).resolve().parents[2]
TIMED = ("static", "browse_first", "browse_deep", "browse_tier", "browse_kind", "browse_world", "browse_mixed",
         "vector_api",
         "vector_page", "picture", "static_again")


def test_frames_per_snapshot_fills_at_least_n() -> None:
    snapshots = WORLDS * SNAPSHOTS
    for n in (1, 2_000, 1_000_000, 1_000_001):
        total = frames_per_snapshot(n) * snapshots + PLAYERS * snapshots
        assert total >= n and (frames_per_snapshot(n) == 1 or total - n < snapshots)


def test_gallery_bench_smoke(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gallery_bench.py"), "--vectors", "4000", "--requests", "24",
         "--seconds", "2", "--clients", "3", "--data", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["bench"] == "gallery"
    assert report["n_vectors"] == frames_per_snapshot(4000) * WORLDS * SNAPSHOTS + PLAYERS * WORLDS * SNAPSHOTS
    assert report["deep_page"] == 50  # 3,360 frames: more than 50 pages of 50
    assert report["fill_seconds"] > 0 and report["score_seconds"] >= 0
    for name in TIMED:
        figures = report["targets"][name]
        assert not figures.get("absent"), f"{name} is not served"
        assert figures["errors"] == 0, figures
        assert figures["n"] > 0 and 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
        assert figures["rps"] > 0 and figures["bytes"] > 0
    # the static anchor has the pictures' sizes, file for file (means over the requests each target made)
    static, picture = report["targets"]["static"]["bytes"], report["targets"]["picture"]["bytes"]
    assert abs(static - picture) <= 0.2 * picture
    for ratio in ("browse_p95/static_p95", "picture_p95/static_p95"):
        assert report["ratios"][ratio] > 0
        assert report["targets_met"][ratio] == (report["ratios"][ratio] <= {"browse_p95/static_p95": 5.0,
                                                                            "picture_p95/static_p95": 1.5}[ratio])
