"""`multiverse serve` as a real OS process: started on a free port, its address read from its one line, its log
(stderr) collected, stopped by SIGTERM or killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Proc:
    popen: subprocess.Popen
    address: str
    data: Path
    log: list[str] = field(default_factory=list)  # stderr lines, as they come
    http: str = ""  # the gateway's URL, when it serves one

    def calls(self, method: str) -> int:
        """How many calls of ``method`` (e.g. "SaveSnapshot") this process logged (multiverse.access)."""
        return sum(line.rstrip().endswith(f"/{method}") and " call /" in line for line in list(self.log))

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took to exit)."""
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)


def _collect(popen: subprocess.Popen, log: list[str]) -> None:
    for line in popen.stderr:
        log.append(line)


def serve(data: Path, services: str, *extra: str, env: dict[str, str] | None = None, timeout: float = 90.0) -> Proc:
    """`multiverse serve --services SERVICES --listen 127.0.0.1:0` with its data in ``data``, once it serves."""
    popen = subprocess.Popen(
        [sys.executable, "-m", "multiverse.cli", "serve", "--services", services, "--listen", "127.0.0.1:0",
         "--data", str(data), *extra],
        cwd=ROOT, env={**os.environ, "MULTIVERSE_MARKET": "off", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc = Proc(popen, "", data)
    threading.Thread(target=_collect, args=(popen, proc.log), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if line.startswith("serving "):
            proc.address = line.split()[-1]
            if "http" in line.split()[1].split(","):  # then the gateway's URL: "http URL"
                proc.http = popen.stdout.readline().split()[-1]
            threading.Thread(target=popen.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc
        if not line and popen.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"multiverse serve --services {services} did not start:\n" + "".join(proc.log[-30:]))
