"""GET /api/tokens/{token_id}/verify: the rarity a token was minted with, recomputed from the pinned index and
calibration and checked against the chain; public, read only. A live gateway of its own (tests/http/stack.py): the
test claims a token and changes its row."""

from __future__ import annotations

import httpx

from multiverse.market import VectorRef
from multiverse.market.signin import ROLE_WALLET
from multiverse.market.tables import tokens
from multiverse.store.auth import Principal
from tests.http.stack import OUTLIER_PLAYER, serve_gallery


def test_verify_answers_verified_then_mismatch_naming_the_field(tmp_path):
    with serve_gallery(tmp_path) as g:
        bob = Principal(g.wallets["bob"].address, ROLE_WALLET)
        token = g.app.market.market.claim(bob, VectorRef("demo", g.snapshots[0], "player", OUTLIER_PLAYER))
        url = f"{g.url}/api/tokens/0x{token.token_id}/verify"
        body = httpx.get(url).json()
        assert body["status"] == "verified" and body["differences"] == []
        assert body["recorded"]["commitment"] == g.app.market.chain.token_info(token.token_id).provenance.commitment
        assert body["recomputed"]["score"] == body["recorded"]["score"]

        with g.app.market.db.meta.transaction(write=True) as conn:
            conn.execute(tokens.update().where(tokens.c.token_id == token.token_id)
                         .values(score=token.scoring.score * 2 + 1))
        body = httpx.get(url).json()
        assert body["status"] == "mismatch" and {"score", "commitment"} <= {d["field"] for d in body["differences"]}

        assert httpx.get(f"{g.url}/api/tokens/{'ab' * 32}/verify").status_code == 404  # never claimed
        bad = httpx.get(f"{g.url}/api/tokens/0x12/verify")
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "token_id"
