"""Smoke test of bench/rarity_lag_bench.py: a few seconds of two simulated servers and a small new-space case
through the real service; every save is scored and the last line carries the lag and read figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_lag_bench_scores_every_save_and_reports_lag_and_reads():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rarity_lag_bench.py"), "--servers", "2", "--seconds", "3",
         "--mb", "0.25", "--big", "1500", "--no-market", "--drain-s", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bench"] == "rarity_lag" and result["saves"] == 6 and result["failed_saves"] == 0
    assert result["all_scored"] and result["scored"] == 6 and result["big_all_scored"]
    assert 0 < result["lag_p50_s"] <= result["lag_p99_s"] <= result["lag_max_s"] < 60
    assert result["big_vectors"] == 3000 and result["big_scored_s"] > 0
    for key in ("saves_per_s", "save_p50_ms", "save_p99_ms", "read_p50_ms", "read_p99_ms", "big_read_p99_ms",
                "target_met"):
        assert key in result
