"""Rarity at mint can be checked (issue 16, item 5): a claim pins the index and the calibration it was scored
against and commits to them on chain; ``verify`` recomputes the score from the blob store. Real App (SQLite, local
blobs, the rarity service), real in-process EVM."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace

import pytest
import sqlalchemy as sa
import torch

from multiverse.chain.provenance import MintRecord, ppm
from multiverse.market import Market, MarketConfig, VectorRef
from multiverse.market.signin import ROLE_WALLET
from multiverse.market.tables import tokens
from multiverse.rarity.persist import blobs_of
from multiverse.rarity.pin import calibration_bytes, load_calibration
from multiverse.rarity.types import VectorId
from multiverse.state.format import encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest
from tests.market.stack import serve
from tests.market.world import ADMIN, ALPHA, OUTLIER_PLAYER, SPACE


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("verify")) as s:
        bob = Principal(s.wallets["bob"].address, ROLE_WALLET)
        token = s.app.market.market.claim(bob, VectorRef("demo", s.snapshot, "player", OUTLIER_PLAYER))
        yield s, token


@contextmanager
def tampered(app, token_id: str, **values):
    """Change the token's row in the database for the block's duration."""
    meta = app.market.db.meta
    with meta.transaction(write=True) as conn:
        before = dict(conn.execute(sa.select(tokens).where(tokens.c.token_id == token_id)).mappings().one())
        conn.execute(tokens.update().where(tokens.c.token_id == token_id).values(**values))
    try:
        yield
    finally:
        with meta.transaction(write=True) as conn:
            conn.execute(tokens.update().where(tokens.c.token_id == token_id).values(**before))


def fields(verification) -> set[str]:
    return {d.field for d in verification.differences}


def test_a_claim_commits_to_its_rarity_and_verifies(stack):
    s, token = stack
    app = s.app
    scoring = token.scoring
    assert scoring is not None and len(scoring.commitment) == 64
    record = MintRecord("demo", s.snapshot, "player", OUTLIER_PLAYER, scoring.score, ppm(token.percentile),
                        scoring.index_version, scoring.index_digest, scoring.calibration_hash)
    assert record.commitment() == scoring.commitment
    onchain = app.market.chain.token_info(token.token_id).provenance
    assert onchain.commitment == scoring.commitment and onchain.rarity_ppm == ppm(token.percentile)
    # the calibration is a blob under its hash, and it places the score where the token says
    calibration = load_calibration(app.blobs, scoring.calibration_hash)
    assert calibration_bytes(calibration) == app.blobs.read(scoring.calibration_hash)
    verification = app.market.market.verify("0x" + token.token_id)
    assert verification.status == "verified", verification
    assert verification.recomputed["score"] == scoring.score
    assert verification.recomputed["chain_commitment"] == scoring.commitment


def test_a_changed_row_is_a_mismatch_naming_the_field(stack):
    s, token = stack
    market = s.app.market.market
    with tampered(s.app, token.token_id, score=token.scoring.score + 0.5):
        v = market.verify(token.token_id)
        assert v.status == "mismatch" and {"score", "commitment"} <= fields(v)
        assert next(d for d in v.differences if d.field == "score").found == token.scoring.score
    with tampered(s.app, token.token_id, tier="legendary" if token.tier != "legendary" else "common"):
        v = market.verify(token.token_id)
        assert v.status == "mismatch" and "tier" in fields(v)
    with tampered(s.app, token.token_id, index_version="player.b9.r9"):
        assert "index_version" in fields(market.verify(token.token_id))
    assert market.verify(token.token_id).status == "verified"  # restored


def test_a_different_calibration_blob_is_a_mismatch(stack):
    s, token = stack
    app, market = s.app, s.app.market.market
    real = load_calibration(app.blobs, token.scoring.calibration_hash)
    other = replace(real, values=tuple(v * 0.5 for v in real.values))  # every score looks rarer under this one
    digest = app.blobs.put_bytes(calibration_bytes(other))
    with tampered(app, token.token_id, calibration_hash=digest):
        v = market.verify(token.token_id)
        assert v.status == "mismatch" and {"calibration_hash", "commitment"} <= fields(v)
        assert next(d for d in v.differences if d.field == "calibration_hash").found == token.scoring.calibration_hash
    # a calibration hash with no blob behind it
    with tampered(app, token.token_id, calibration_hash="ab" * 32):
        v = market.verify(token.token_id)
        assert v.status == "mismatch" and "calibration_hash" in fields(v)
    # the pinned index's digest pointed elsewhere: a blob that is not an index
    with tampered(app, token.token_id, index_digest=token.scoring.calibration_hash):
        assert "index_digest" in fields(market.verify(token.token_id))


def state(seed: int) -> bytes:
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn((6, *SPACE.frame_shape), generator=g)
    players = torch.randn((4, SPACE.player_dim), generator=g) * 3
    people = [{"uuid": f"00000000-0000-4000-8000-0000000{seed:03d}{i:02d}", "name": f"q{i}"} for i in range(4)]
    return encode_state(frames.half(), players.half(), space="demo", players=people, timeline=[])


def test_the_index_grows_after_the_mint_and_verify_recomputes_the_mint_time_score(stack):
    s, token = stack
    app = s.app
    vid = VectorId(s.snapshot, "player", OUTLIER_PLAYER)
    for seed in range(20, 26):
        data = state(seed)
        app.store.create_world(ADMIN, f"g{seed}", "demo", owner="alpha")
        record, _ = app.store.save(ALPHA, SaveRequest(world=f"g{seed}", size=len(data)), [data])
        assert app.rarity.wait_scored(record.id, timeout=60)
    live = app.rarity.rarity_of(vid)
    assert live.index_version != token.scoring.index_version and live.score != token.scoring.score
    app.rarity.flush()  # the service saves the grown index and deletes its superseded saves: never a pin's blobs
    saved = app.meta.rarity_manifests()["demo"]
    assert not blobs_of(app.blobs, saved) & blobs_of(app.blobs, token.scoring.index_digest)
    v = app.market.market.verify(token.token_id)
    assert v.status == "verified", v
    assert v.recomputed["score"] == token.scoring.score and v.recomputed["index_version"] == token.scoring.index_version


def test_a_token_minted_without_a_commitment_is_unverifiable(stack):
    s, _ = stack
    app = s.app
    m = app.market
    plain = Market(app.meta, app.blobs, m.chain, m.db, lambda *a: ("legendary", 99.95), MarketConfig(min_tier="common"))
    alice = Principal(s.wallets["alice"].address, ROLE_WALLET)
    token = plain.claim(alice, VectorRef("demo", s.snapshot, "player", 0))
    assert token.scoring is None and m.chain.token_info(token.token_id).provenance.commitment == ""
    v = m.market.verify(token.token_id)
    assert v.status == "unverifiable" and "minted before" in v.reason and not v.differences
    json.dumps(v.to_json())  # plain data all the way down
