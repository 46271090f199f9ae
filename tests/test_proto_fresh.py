"""The committed generated protobuf/gRPC code matches what scripts/gen_proto.py produces now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_fresh(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = {p.name: p.read_bytes() for p in module.generate(tmp_path)}
    committed = {p.name: p.read_bytes() for p in (ROOT / "multiverse" / "v1").glob("*_pb2*.py*")}
    assert fresh.keys() == committed.keys(), "proto files were added or removed: run `make proto`"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"generated code is stale for {stale}: run `make proto` and commit the result"


def test_generated_code_says_so():
    for path in (ROOT / "multiverse" / "v1").glob("*_pb2*.py"):
        assert "DO NOT EDIT" in path.read_text().splitlines()[0] + path.read_text().splitlines()[1], path
