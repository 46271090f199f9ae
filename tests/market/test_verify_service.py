"""Market.VerifyToken over gRPC and `multiverse verify TOKEN`: the App behind a real gRPC server (tests/market/
stack.py, its own instance: these tests change a token's row)."""

from __future__ import annotations

import json

import grpc
import pytest
import sqlalchemy as sa

from multiverse.cli import main
from multiverse.market import VectorRef
from multiverse.market.signin import ROLE_WALLET
from multiverse.market.tables import tokens
from multiverse.records import ROLE_ADMIN
from multiverse.store.auth import Principal, mint_key
from multiverse.v1 import market_pb2 as pb
from tests.market.stack import serve
from tests.market.world import OUTLIER_PLAYER


@pytest.fixture(scope="module")
def claimed(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("verify-svc")) as s:
        bob = Principal(s.wallets["bob"].address, ROLE_WALLET)
        token = s.app.market.market.claim(bob, VectorRef("demo", s.snapshot, "player", OUTLIER_PLAYER))
        _, key = mint_key(s.app.meta, "verify-admin", ROLE_ADMIN)
        yield s, token, key


def test_verify_token_over_grpc_names_what_differs(claimed):
    s, token, key = claimed
    auth = (("authorization", f"Bearer {key}"),)
    got = s.stub.GetToken(pb.GetTokenRequest(token_id=token.token_id), metadata=auth)
    assert got.commitment == token.scoring.commitment and got.score == token.scoring.score
    reply = s.stub.VerifyToken(pb.VerifyTokenRequest(token_id=token.token_id), metadata=auth)
    assert reply.status == "verified" and not reply.differences
    assert json.loads(reply.recomputed_json)["score"] == token.scoring.score
    with s.app.market.db.meta.transaction(write=True) as conn:
        conn.execute(tokens.update().where(tokens.c.token_id == token.token_id).values(percentile=12.5))
    try:
        reply = s.stub.VerifyToken(pb.VerifyTokenRequest(token_id=token.token_id), metadata=auth)
        assert reply.status == "mismatch" and "percentile" in {d.field for d in reply.differences}
    finally:
        with s.app.market.db.meta.transaction(write=True) as conn:
            conn.execute(tokens.update().where(tokens.c.token_id == token.token_id).values(percentile=token.percentile))
    for bad, code in (("12", grpc.StatusCode.INVALID_ARGUMENT), ("ab" * 32, grpc.StatusCode.NOT_FOUND)):
        with pytest.raises(grpc.RpcError) as info:
            s.stub.VerifyToken(pb.VerifyTokenRequest(token_id=bad), metadata=auth)
        assert info.value.code() == code
    with pytest.raises(grpc.RpcError) as info:  # a key or a wallet session, as every market read
        s.stub.VerifyToken(pb.VerifyTokenRequest(token_id=token.token_id))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_cli_verify_prints_the_answer_and_exits_by_it(claimed, tmp_path, capsys):
    s, token, key = claimed
    base = ["--key", key, "--grpc", s.address, "--data", str(tmp_path)]
    capsys.readouterr()
    assert main([*base, "verify", token.token_id]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "verified" and out["recorded"]["commitment"] == token.scoring.commitment
    with s.app.market.db.meta.transaction(write=True) as conn:
        conn.execute(sa.update(tokens).where(tokens.c.token_id == token.token_id).values(tier="common"))
    try:
        assert main([*base, "verify", token.token_id]) == (0 if token.tier == "common" else 1)
    finally:
        with s.app.market.db.meta.transaction(write=True) as conn:
            conn.execute(sa.update(tokens).where(tokens.c.token_id == token.token_id).values(tier=token.tier))
