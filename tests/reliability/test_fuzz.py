"""The fuzz run of issue 12, small: bench/fuzz_bench.py's generator with a fixed seed against a running
`multiverse up` (a subprocess, market and wallet JSON-RPC port on). Every family of hostile input (state files
broken in their bytes, header, tensors, metadata and player records; hostile field values and raw protobuf bytes
on every gRPC method; JSON-RPC bodies) is answered without a crash, an INTERNAL or UNKNOWN status, a hung call or
a refused connection; every INVALID_ARGUMENT names its field; no rejected input changes the store; and the
server starts again on the fuzzed data. The full-size run is `bench/fuzz_bench.py` (10,000 inputs)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_bench.py"
COUNT, SEED = 600, 12


def load_bench():
    spec = importlib.util.spec_from_file_location("fuzz_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_bench"] = bench
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_fuzzed_server_answers_every_input_cleanly(tmp_path):
    bench = load_bench()
    summary = bench.run(COUNT, SEED, tmp_path, max_crashes=3, log=lambda _: None)
    failures = "\n".join(
        f"{g['count']} x {g['kind']}: {g['method']} -> {g['code']} ({g['why'][:160]})\n"
        f"    e.g. input {g['first']['i']} [{g['first']['auth']}] {g['first']['note'][:300]}"
        for g in bench.distinct(Path(summary["findings"]))
    )
    assert "aborted" not in summary, f"{summary['aborted']}\n{failures}"
    assert summary["inputs"] == COUNT
    families = summary["by_family"]
    assert set(families) == set(bench.WEIGHTS), "every family of input was sent"
    assert all(f["inputs"] >= 10 and f["inputs"] > f["accepted"] for f in families.values()), families
    for counter in ("crashes", "internal", "unknown", "state_changes_from_rejected", "refusals_without_field",
                    "timeouts", "unavailable"):
        assert summary[counter] == 0, f"{counter}: {summary[counter]}\n{failures}"
    assert summary["restart_ok"] and summary["restart_same_state"], summary
