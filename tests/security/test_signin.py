"""Wallet sign-in is strict (issue 13 item 6): the message's URI must have the service's exact origin (a prefix match
let ``http://localhost.evil.example/login`` in when the service was ``http://localhost``), and nonces are limited
(per client and in all, refused with a retriable RESOURCE_EXHAUSTED past the limit) and expire, and expired ones
leave the table (before, nothing bounded them, and expired rows stayed a day)."""

from __future__ import annotations

import time
from dataclasses import replace

import grpc
import pytest
import sqlalchemy as sa
from eth_account import Account

from multiverse.errors import InvalidArgument, ResourceExhausted, Unauthenticated
from multiverse.market import MarketDb, SignIn, SignInConfig
from multiverse.market import tables as t
from multiverse.metadata import open_metadata
from tests.chain.harness import key_for
from tests.market.world import personal_sign, siwe_message

CHAIN_ID = 31337
ALICE = key_for("alice")
ADDRESS = Account.from_key(ALICE).address


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # messages carry real times (siwe_message): the clock only moves forward from now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path):
    meta = open_metadata(f"sqlite:///{tmp_path / 'm.db'}")
    yield MarketDb(meta, "0x" + "11" * 20)
    meta.close()


def signin(db: MarketDb, clock=None, **config) -> SignIn:
    config = {"domain": "localhost", "uri": "http://localhost", **config}
    return SignIn(db, CHAIN_ID, SignInConfig(**config), **({"clock": clock} if clock else {}))


def sign_in(s: SignIn, uri: str, domain: str = "localhost", nonce: str = ""):
    message = siwe_message(ADDRESS, nonce or s.nonce(), CHAIN_ID, domain=domain, uri=uri)
    return s.sign_in(message, personal_sign(ALICE, message))


def rows(db: MarketDb) -> int:
    with db.meta.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.nonces)).scalar_one()


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost.evil.example/login",  # the configured URI is a prefix of this host
        "http://localhost:8080/login",  # another port
        "https://localhost/login",  # another scheme
        "http://localhostevil/",
        "http://localhost@evil.example/",  # user info: the host is evil.example
        "http://evil.example/http://localhost",
    ],
)
def test_a_message_for_another_origin_is_refused(db, uri):
    s = signin(db)
    with pytest.raises(Unauthenticated, match="origin"):
        sign_in(s, uri)


@pytest.mark.parametrize("uri", ["http://localhost", "http://localhost/login", "HTTP://LocalHost:80/a/b"])
def test_a_message_for_the_same_origin_is_accepted(db, uri):
    _, session = sign_in(signin(db), uri)
    assert session.address == ADDRESS


def test_a_configured_path_is_matched_segment_by_segment(db):
    s = signin(db, domain="gallery.test", uri="https://gallery.test/app")
    _, session = sign_in(s, "https://gallery.test/app/login", domain="gallery.test")
    assert session.address == ADDRESS
    for uri in ("https://gallery.test/application", "https://gallery.test/", "https://gallery.test:8443/app"):
        with pytest.raises(Unauthenticated, match="origin"):
            sign_in(s, uri, domain="gallery.test")


@pytest.mark.parametrize("uri", ["localhost", "ftp://localhost", "http://", "http://localhost:99999", ""])
def test_the_configured_uri_must_be_an_http_origin(uri):
    with pytest.raises(InvalidArgument, match="market.signin.uri"):
        SignInConfig(uri=uri)


def test_outstanding_nonces_are_limited_per_client_and_in_all(db):
    s = signin(db, max_nonces=5, max_nonces_per_client=2)
    a = [s.nonce("ipv4:10.0.0.1") for _ in range(2)]
    with pytest.raises(ResourceExhausted, match="2 from ipv4:10.0.0.1") as full:
        s.nonce("ipv4:10.0.0.1")
    assert full.value.retriable and full.value.details["limit"] == "client"
    for client in ("ipv4:10.0.0.2", "ipv4:10.0.0.2", "ipv4:10.0.0.3"):
        s.nonce(client)
    with pytest.raises(ResourceExhausted, match="5 sign-in nonces") as full:
        s.nonce("ipv4:10.0.0.4")
    assert full.value.details["limit"] == "total"
    assert rows(db) == 5
    sign_in(s, "http://localhost/login", nonce=a[0])  # a used nonce frees its place
    s.nonce("ipv4:10.0.0.4")
    assert rows(db) == 5


def test_nonces_expire_and_expired_ones_are_dropped(db):
    clock = Clock()
    s = signin(db, clock, nonce_ttl_s=60.0, max_nonces_per_client=3)
    old = [s.nonce("ipv4:10.0.0.1") for _ in range(3)]
    clock.now += 61.0
    with pytest.raises(Unauthenticated, match="expired"):
        message = siwe_message(ADDRESS, old[0], CHAIN_ID, domain="localhost", uri="http://localhost/")
        s.sign_in(message, personal_sign(ALICE, message))
    fresh = s.nonce("ipv4:10.0.0.1")  # the client's limit counts only nonces still alive
    assert rows(db) == 1  # the expired ones left the table
    clock.now += 30.0
    message = siwe_message(ADDRESS, fresh, CHAIN_ID, domain="localhost", uri="http://localhost/")
    s.sign_in(message, personal_sign(ALICE, message))


def test_the_service_counts_nonces_per_caller_and_answers_resource_exhausted(tmp_path):
    """Over gRPC: the caller's address is the client, and a full one gets RESOURCE_EXHAUSTED (retriable)."""
    from multiverse.app import App
    from multiverse.v1 import market_pb2 as pb
    from multiverse.v1 import market_pb2_grpc
    from services.server import build_server
    from tests.market.stack import settings as market_settings

    base = market_settings(tmp_path / "data")
    signin_config = replace(base.market.market.signin, max_nonces_per_client=2)
    market = replace(base.market, market=replace(base.market.market, signin=signin_config))
    app = App.open(replace(base, market=market))
    server, port = build_server(app, "127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = market_pb2_grpc.MarketStub(channel)
            for _ in range(2):
                assert stub.SignInNonce(pb.SignInNonceRequest()).nonce
            with pytest.raises(grpc.RpcError) as refused:
                stub.SignInNonce(pb.SignInNonceRequest())
    finally:
        server.stop(grace=None).wait()
        app.close()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2 from ipv4:127.0.0.1" in refused.value.details()
