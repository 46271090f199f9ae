"""bench/quality_bench.py on a few pairs: its figures and the linear-vs-slerp finding it reports."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "quality_bench.py"


def test_quality_bench_reports_every_operator_and_slerp_keeps_the_norm(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("quality_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.main(["--pairs", "8", "--picture", str(tmp_path / "family.png")])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == report
    ops = {r["operator"] for r in report["rows"]}
    assert {op for op, _ in bench.TWO_WAY + bench.THREE_WAY} <= ops
    assert all(0.0 <= r["plausible"] <= 1.0 for r in report["rows"])
    assert min(report["anchor_parents"].values()) > 0.9
    linear, slerp = report["linear_vs_slerp"]["linear"], report["linear_vs_slerp"]["slerp"]
    assert linear["norm_z"] < -2.0 < -0.5 < slerp["norm_z"] < 0.5  # linear midpoints shrink, slerp keeps the norm
    assert (tmp_path / "family.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
