"""TLS on the gRPC port (and mutual TLS), with certificates made for the test: a client that trusts the
service's CA gets through; a plaintext client, a client trusting another CA, and (with mutual TLS) a client
without a certificate do not. TLS off: plaintext works as before and a TLS client is refused."""

from __future__ import annotations

import pytest

from multiverse import errors
from multiverse.app import App
from multiverse.cli import main as cli_main
from multiverse.client import Client
from multiverse.config import Settings
from multiverse.store.auth import ensure_admin_key
from multiverse.tlsconfig import ClientTls, ServerTls
from services.server import build_server
from tests.support.certs import make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def _serve(tmp_path, tls: ServerTls | None):
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0", workers=8, tls=tls)
    app = App.open(settings)
    admin = ensure_admin_key(app.meta, settings.data_dir)
    server, port = build_server(app, settings.grpc_addr)
    server.start()
    return app, server, f"localhost:{port}", admin


@pytest.fixture
def served(tmp_path, request, certs):
    """The service with TLS off (param None), TLS ("tls") or mutual TLS ("mutual")."""
    mode = request.param
    tls = None if mode is None else ServerTls.from_files(certs.server_cert, certs.server_key,
                                                         certs.ca if mode == "mutual" else None)
    app, server, address, admin = _serve(tmp_path, tls)
    yield address, admin, tmp_path
    server.stop(grace=None).wait()
    app.close()


def _whoami(address: str, key: str, tls: ClientTls | None) -> str:
    with Client(address, key, timeout=5, tls=tls) as client:
        return client.whoami().principal


@pytest.mark.parametrize("served", ["tls"], indirect=True)
def test_tls_client_gets_through_and_others_do_not(served, certs):
    address, admin, _ = served
    assert _whoami(address, admin, ClientTls.from_files(ca=certs.ca)) == "admin"
    with pytest.raises(errors.Unavailable):
        _whoami(address, admin, None)  # plaintext against a TLS port
    with pytest.raises(errors.Unavailable):
        _whoami(address, admin, ClientTls.from_files(ca=certs.other_ca))  # a CA that did not sign the server


@pytest.mark.parametrize("served", ["mutual"], indirect=True)
def test_mutual_tls_needs_a_client_certificate(served, certs):
    address, admin, _ = served
    both = ClientTls.from_files(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)
    assert _whoami(address, admin, both) == "admin"
    with pytest.raises(errors.Unavailable):
        _whoami(address, admin, ClientTls.from_files(ca=certs.ca))


@pytest.mark.parametrize("served", [None], indirect=True)
def test_tls_off_serves_plaintext_only(served, certs):
    address, admin, _ = served
    assert _whoami(address, admin, None) == "admin"
    with pytest.raises(errors.Unavailable):
        _whoami(address, admin, ClientTls.from_files(ca=certs.ca))


@pytest.mark.parametrize("served", ["tls"], indirect=True)
def test_cli_connects_with_tls(served, certs, capsys):
    address, admin, tmp_path = served
    argv = ["--grpc", address, "--key", admin, "--tls-ca", str(certs.ca), "whoami"]
    assert cli_main(argv) == 0
    assert '"principal": "admin"' in capsys.readouterr().out
    assert cli_main(["--grpc", address, "--key", admin, "whoami", "--tls-ca", str(certs.other_ca)]) == 1


def test_bad_tls_files_are_named(tmp_path, certs):
    with pytest.raises(errors.InvalidArgument) as missing:
        ServerTls.from_files(tmp_path / "nope.pem", certs.server_key)
    assert missing.value.field == "tls_cert"
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(errors.InvalidArgument) as junk:
        ClientTls.from_files(ca=tmp_path / "junk.pem")
    assert junk.value.field == "tls_ca"
    with pytest.raises(errors.InvalidArgument) as half:
        ClientTls.from_files(ca=certs.ca, cert=certs.client_cert)
    assert half.value.field == "tls_client_key"
    with pytest.raises(errors.InvalidArgument) as mismatch:
        ServerTls.from_files(certs.server_cert, certs.client_key).server_context()
    assert mismatch.value.field == "tls_key"


def test_wallet_json_rpc_port_serves_https(tmp_path, certs):
    """With TLS on, the wallet JSON-RPC port is HTTPS only: a client trusting the CA reads the chain id; plain
    HTTP to the same port gets no answer."""
    import json
    import ssl
    import urllib.error
    import urllib.request

    from multiverse.market.wiring import MarketSettings

    tls = ServerTls.from_files(certs.server_cert, certs.server_key)
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0", workers=8, tls=tls,
                        market=MarketSettings(rpc_listen="127.0.0.1:0", poll_s=0))
    app = App.open(settings)
    try:
        url = app.market.rpc_url
        assert url.startswith("https://127.0.0.1:")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        headers = {"Content-Type": "application/json"}
        context = ssl.create_default_context(cafile=str(certs.ca))
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10, context=context) as r:
            assert int(json.loads(r.read())["result"], 16) == app.market.chain.chain_id()
        plain = url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(urllib.request.Request(plain, body, headers), timeout=5).read()
    finally:
        app.close()
