"""The committed contract artifacts are fresh: their source hash is the hash of today's sources, build script and
pinned compiler/library versions (no node needed); with node, a rebuild gives the committed bytes exactly."""

from __future__ import annotations

import shutil
import subprocess

from multiverse.chain.artifacts import CONTRACTS_DIR, DEFAULT_ARTIFACTS, load_artifact, source_hash
from tests.support.need import missing


def test_every_artifact_carries_the_current_source_hash():
    names = sorted(p.stem for p in DEFAULT_ARTIFACTS.glob("*.json"))
    assert names == [
        "BaselineERC721",
        "BaselineSoladyERC721",
        "Exchange",
        "RareVector",
        "RareVectorOZ",
        "RefusingReceiver",
        "WalletMock",
    ]
    current = source_hash()
    stale = [n for n in names if load_artifact(n).source_hash != current]
    assert not stale, f"stale artifacts {stale}: run `node contracts/build.js` and commit contracts/artifacts"


def test_a_rebuild_gives_the_committed_artifacts():
    node = shutil.which("node")
    if node is None or not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        missing("node with solc", "install Node 20, then run: npm ci --prefix contracts")
    done = subprocess.run(
        [node, str(CONTRACTS_DIR / "build.js"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_seaport_anchor_was_built_from_the_pinned_packages():
    """bench/gas_bench.py measures our sales against Seaport compiled by contracts/build_anchors.js: the committed
    anchor artifacts record the seaport-core and solc versions that package-lock.json pins."""
    import json

    lock = json.loads((CONTRACTS_DIR / "package-lock.json").read_text())["packages"]
    pinned = {"seaport-core": lock["node_modules/seaport-core"]["version"], "solc": lock["node_modules/solc-0.8.24"]["version"]}
    for name in ("Seaport", "ConduitController"):
        artifact = json.loads((DEFAULT_ARTIFACTS / "anchors" / f"{name}.json").read_text())
        assert artifact["packages"] == pinned, f"{name}: run `node contracts/build_anchors.js` and commit the result"
        assert artifact["compiler"]["version"].startswith(pinned["solc"] + "+")
        assert len(artifact["bytecode"]) > 2 and artifact["abi"]
