"""requirements.lock covers pyproject.toml: every declared dependency is locked at a version its specifier
allows, with a sha256 (a dependency added to pyproject.toml without `make lock` fails here, not on CI's pip)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
UNLOCKED = {"torch"}  # installed by its exact pin (the CPU build on this machine's disk); see scripts/lock.py


def _locked() -> dict[str, tuple[str, str]]:
    text = (ROOT / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})$", text, re.M)
    return {canonicalize_name(name): (version, digest) for name, version, digest in entries}


def test_every_lock_line_is_pinned_and_hashed():
    lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 2 * len(_locked()), "each entry is `name==version \\` then `--hash=sha256:...`"


def test_pyproject_dependencies_are_locked():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    locked = _locked()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        if name in UNLOCKED:
            continue
        assert name in locked, f"{spec} is in pyproject.toml but not in requirements.lock: run `make lock`"
        version = locked[name][0]
        assert spec.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {name}=={version}, outside pyproject.toml's {spec}: run `make lock`")
