"""Compiled contracts: load the artifacts that contracts/build.js writes, and recompute their source hash.

The source hash is the sha256 of a manifest with one ``<sha256>  <path>`` line for build.js and for every .sol
file under contracts/ (sorted paths, node_modules and artifacts skipped), then ``<package> <version>`` lines for
solc, @openzeppelin/contracts and solady as package-lock.json pins them. build.js computes the same; a test compares.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from multiverse.errors import Corrupt, NotFound

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
DEFAULT_ARTIFACTS = CONTRACTS_DIR / "artifacts"
PINNED = ("solc", "@openzeppelin/contracts", "solady")
_SKIP = {"node_modules", "artifacts"}


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]] = field(hash=False, repr=False)
    bytecode: str = field(repr=False)
    deployed_bytecode: str = field(repr=False)
    compiler: str = ""
    source_hash: str = ""


@lru_cache(maxsize=32)
def load_artifact(name: str, directory: Path = DEFAULT_ARTIFACTS) -> Artifact:
    """The artifact of contract ``name`` (e.g. ``RareVector``) from ``directory``."""
    path = Path(directory) / f"{name}.json"
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise NotFound(f"no artifact {path}: build the contracts with `node contracts/build.js`", artifact=name) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise Corrupt(f"artifact {path} cannot be read ({exc}): rebuild with `node contracts/build.js`") from None
    try:
        return Artifact(
            name=data["contractName"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            compiler=data["compiler"]["version"],
            source_hash=data["sourceHash"],
        )
    except (KeyError, TypeError) as exc:
        raise Corrupt(f"artifact {path} lacks {exc}: rebuild with `node contracts/build.js`") from None


def solidity_files(contracts_dir: Path = CONTRACTS_DIR) -> list[str]:
    """Relative POSIX paths of the .sol sources under ``contracts_dir``, sorted."""
    found: list[str] = []
    for path in contracts_dir.rglob("*.sol"):
        rel = path.relative_to(contracts_dir)
        if not _SKIP.intersection(rel.parts[:-1]):
            found.append(rel.as_posix())
    return sorted(found)


def pinned_versions(contracts_dir: Path = CONTRACTS_DIR) -> list[tuple[str, str]]:
    with (contracts_dir / "package-lock.json").open(encoding="utf-8") as f:
        lock = json.load(f)
    return [(name, lock["packages"][f"node_modules/{name}"]["version"]) for name in PINNED]


def source_hash(contracts_dir: Path = CONTRACTS_DIR) -> str:
    """The hash build.js stamps into every artifact; differs as soon as a source, build.js or a pin changes."""
    lines = []
    for rel in ["build.js", *solidity_files(contracts_dir)]:
        lines.append(f"{hashlib.sha256((contracts_dir / rel).read_bytes()).hexdigest()}  {rel}")
    lines.extend(f"{name} {version}" for name, version in pinned_versions(contracts_dir))
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()
