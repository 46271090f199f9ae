"""deploy/setup.py and deploy/healthcheck.py against real parts: PostgreSQL (embedded), an S3 server (SeaweedFS) and
anvil, with the compose file's and the Kubernetes example's own settings (only the hosts moved to the local
servers). Setup migrates, makes the bucket, deploys the contracts at exactly the configured addresses (so the
market replicas attach to them) and mints the admin key once; run again, it changes nothing."""

from __future__ import annotations

import importlib.util
import threading
import uuid
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.chain.harness import anvil_binary, start_anvil
from tests.deploy.manifests import DEPLOY, OVERLAY, by_kind, compose, containers, effective_env, kustomize
from tests.support.need import missing
from tests.support.postgres import create_schema


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", DEPLOY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _setup_env(source: str) -> dict[str, str]:
    if source == "compose":
        return dict(compose()["services"]["setup"]["environment"])
    job = by_kind(kustomize(OVERLAY), "Job")["multiverse-setup"]
    return effective_env(containers(job)[0], kustomize(OVERLAY))


@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.parametrize("source", ["compose", "k8s"])
def test_setup_prepares_what_the_services_attach_to(source, postgres_url, s3_server, tmp_path, capsys):
    binary = anvil_binary()
    if binary is None:
        missing("anvil (npm @foundry-rs/anvil)", "run: npm ci --prefix contracts")
    env = _setup_env(source)
    blobs = urlsplit(env["MULTIVERSE_BLOBS"])
    bucket = f"{blobs.netloc}-{uuid.uuid4().hex[:8]}"
    query = blobs.query.replace(dict(p.split("=") for p in blobs.query.split("&"))["endpoint"], s3_server.endpoint)
    with start_anvil(binary, tmp_path) as rpc_url:
        env.update(MULTIVERSE_DB=create_schema(postgres_url), MULTIVERSE_DATA=str(tmp_path / "data"),
                   MULTIVERSE_BLOBS=f"s3://{bucket}{blobs.path}?{query}", MULTIVERSE_CHAIN_RPC_URL=rpc_url,
                   MULTIVERSE_S3_ACCESS_KEY=s3_server.access_key, MULTIVERSE_S3_SECRET_KEY=s3_server.secret_key)
        setup = _script("setup")
        assert setup.main(env) == 0, capsys.readouterr().err
        first = capsys.readouterr().out
        assert "admin key: mvk_" in first and f"bucket {bucket} is there" in first
        assert f"deployed token {env['MULTIVERSE_CHAIN_TOKEN']}, exchange {env['MULTIVERSE_CHAIN_EXCHANGE']}" in first
        assert s3_server.client().bucket_exists(bucket)

        assert setup.main(env) == 0, capsys.readouterr().err  # again: nothing new
        second = capsys.readouterr().out
        assert "admin key: one exists already" in second and "mvk_" not in second
        assert f"attached to token {env['MULTIVERSE_CHAIN_TOKEN']}" in second

        # the market, as configured, attaches to what setup deployed
        from multiverse.chain import open_chain
        from multiverse.config import Settings

        chain = open_chain(Settings.from_env(env).market.chain)
        try:
            assert chain.contracts.token == env["MULTIVERSE_CHAIN_TOKEN"]
        finally:
            chain.close()


def test_setup_refuses_contracts_at_other_addresses(tmp_path, capsys):
    """Configured addresses that the deployment does not produce: setup stops and names the ones to set."""
    binary = anvil_binary()
    if binary is None:
        missing("anvil (npm @foundry-rs/anvil)", "run: npm ci --prefix contracts")
    env = dict(compose()["services"]["setup"]["environment"])
    config = {k: v for k, v in env.items() if k.startswith(("MULTIVERSE_CHAIN", "MULTIVERSE_MARKET"))}
    from multiverse.config import Settings

    with start_anvil(binary, tmp_path) as rpc_url:
        wrong = {**config, "MULTIVERSE_CHAIN_RPC_URL": rpc_url,
                 "MULTIVERSE_CHAIN_TOKEN": "0x" + "11" * 20, "MULTIVERSE_CHAIN_EXCHANGE": "0x" + "22" * 20}
        setup = _script("setup")
        with pytest.raises(Exception, match="set MULTIVERSE_CHAIN_TOKEN=0x5FbDB2315678afecb367f032d93F642f64180aa3"):
            setup._contracts(Settings.from_env(wrong).market.chain)


class _Page(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/api/spaces" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_healthcheck_reports_serving_only():
    check = _script("healthcheck")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("multiverse.v1.Store", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("multiverse.v1.Rarity", health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    web = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        address = f"127.0.0.1:{port}"
        assert check.main(["grpc", address, "multiverse.v1.Store"]) == 0
        assert check.main(["grpc", address, ""]) == 0
        assert check.main(["grpc", address, "multiverse.v1.Rarity"]) == 1  # NOT_SERVING
        assert check.main(["grpc", address, "multiverse.v1.Market"]) == 1  # not served here: NOT_FOUND
        url = f"http://127.0.0.1:{web.server_address[1]}"
        assert check.main(["http", f"{url}/api/spaces"]) == 0
        assert check.main(["http", f"{url}/other"]) == 1
        assert check.main(["grpc", address]) == 2  # usage
    finally:
        web.shutdown()
        web.server_close()
        server.stop(None)
