"""`multiverse gc`, `world delete` and `snapshot prune`: through the CLI's main against a real server in this
process (whose chunk store's touch slack is 0, so a grace of 0 s sweeps), and as real processes against
`multiverse serve --services store`, which serves the Admin service with the store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from multiverse.cli.admin import before, duration, size
from multiverse.cli.main import main
from multiverse.errors import InvalidArgument
from tests.gc.served import served  # noqa: F401 - the fixture
from tests.serve.procs import ROOT, serve

KINDS = ("chunks", "packs", "manifests", "whole")


def cli(served, *argv: str) -> int:
    return main([*argv, "--grpc", served.address, "--key", served.admin_key])


def table(out: str) -> dict[str, tuple[int, int]]:
    """{kind: (count, bytes)} from `gc`'s lines."""
    found = {}
    for kind in (*KINDS, "total"):
        m = re.search(rf"^  {kind}\s+(\d+)\s+(\d+)", out, re.M)
        assert m, (kind, out)
        found[kind] = (int(m.group(1)), int(m.group(2)))
    return found


@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
def test_gc_dry_run_prints_what_would_go_and_the_real_run_sweeps_it(served, capsys):
    saved = served.game("a", 5)
    time.sleep(0.01)
    stamp = datetime.now(UTC).isoformat()
    assert cli(served, "snapshot", "prune", "--before", stamp, "--world", "a", "--dry-run") == 0
    assert "dry run: would prune 4 snapshots, kept 1" in capsys.readouterr().out
    assert served.admin.load_snapshot(saved[0][0])[1] == saved[0][1]  # nothing pruned
    assert cli(served, "snapshot", "prune", "--before", stamp, "--world", "a") == 0
    assert f"snapshots before {stamp}: pruned 4 snapshots, kept 1" in capsys.readouterr().out

    untouched = served.stored()
    assert cli(served, "gc", "--dry-run", "--grace", "0") == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: would sweep") and "nothing was removed" in out
    would = table(out)
    assert would["chunks"] == (4 * 4, 4 * 4 * 4096)  # frames 0-15: only the four pruned windows held them
    assert would["manifests"][0] == 4 and would["total"][1] == sum(would[k][1] for k in KINDS)
    assert f"{size(would['chunks'][1])}" == "64.0 KiB" and "64.0 KiB" in out
    assert served.stored() == untouched
    assert cli(served, "gc", "--grace", "0s") == 0
    out = capsys.readouterr().out
    assert out.startswith("swept") and table(out) == would
    assert cli(served, "gc", "--dry-run", "--grace", "0") == 0
    assert table(capsys.readouterr().out)["total"] == (0, 0)

    assert cli(served, "world", "delete", "a") == 0
    assert "world a: pruned 1 snapshots, kept 0 (heads, tokens' snapshots, inputs of kept crosses), 1 heads dropped" \
        in capsys.readouterr().out
    assert cli(served, "world", "delete", "a") == 1
    assert re.search(r"error: world 'a' was deleted at .* \[NOT_FOUND\]", capsys.readouterr().err)


@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
def test_bad_flags_are_refused_naming_them(served, capsys):
    served.game("a", 2)
    untouched = served.stored()
    for argv, flag in ((("gc", "--grace=-1h"), "--grace"), (("gc", "--grace", "soon"), "--grace"),
                       (("snapshot", "prune", "--before", "yesterday"), "--before"),
                       (("snapshot", "prune", "--before", "1700000000"), "--before"),
                       (("snapshot", "prune", "--before", "2999-01-01"), "before")):
        assert cli(served, *argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag}=") and "is not valid" in err, (argv, err)
    assert served.stored() == untouched


def test_durations_and_dates():
    assert duration("--grace", "90m") == 5400.0 and duration("--grace", "2d") == 172800.0
    assert duration("--grace", "30") == 30.0 and duration("--grace", "1.5h") == 5400.0
    assert before("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC).timestamp()
    assert before("2025-01-31T12:00:00+02:00") == datetime(2025, 1, 31, 10, tzinfo=UTC).timestamp()
    assert before("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    with pytest.raises(InvalidArgument, match="--before=.*give an ISO date"):
        before("31/01/2025")
    assert (size(512), size(48 * 1024), size(3 << 30)) == ("512 B", "48.0 KiB", "3.0 GiB")


def test_gc_as_processes_against_serve_store(tmp_path):
    """A real `serve --services store` process serves Admin; the `multiverse` CLI as its own process: a dry run
    prints its table (nothing is an hour old yet), a grace shorter than the touch slack allows is refused."""
    proc = serve(tmp_path / "data", "store")
    try:
        def run(*argv: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "multiverse.cli", *argv, "--grpc", proc.address, "--data",
                                   str(tmp_path / "data")], cwd=ROOT, env={**os.environ, "MULTIVERSE_KEY": ""},
                                  capture_output=True, text=True, timeout=60)

        done = run("gc", "--dry-run")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("dry run: would sweep what nothing keeps, older than 3600 s")
        assert table(done.stdout)["total"] == (0, 0)
        short = run("gc", "--grace", "1m")
        assert short.returncode == 1
        assert "grace_s=60.0 is not valid: use at least 120 seconds" in short.stderr and "[INVALID_ARGUMENT]" in short.stderr
    finally:
        proc.terminate()
