"""End to end with the market (tests/market/stack.py: the App with its in-process chain, real rarity engine, gRPC):
a token's owner downloads its vector after its world's other snapshots are pruned, the world deleted and its garbage
collected (grace 0 s, through the Admin service); a claim on a pruned snapshot, or on a vector whose discovery was
pruned, is FAILED_PRECONDITION in words that say so; the token's picture still renders."""

from __future__ import annotations

import hashlib
import time

import grpc
import pytest

from multiverse.chunks import store as chunk_store
from multiverse.client import Client
from multiverse.pictures import Pictures
from multiverse.state.format import decode_state, encode_state
from multiverse.store.auth import ensure_admin_key
from multiverse.store.store import SaveRequest
from multiverse.v1 import market_pb2 as pb
from tests.market.stack import serve
from tests.market.test_service import sign_in
from tests.market.world import ADMIN, ALPHA, OUTLIER_PLAYER, make_state


def variant(wallets, far: float) -> bytes:
    """make_state's state with frame 0 moved far off (only the states made with this ``far`` hold it)."""
    tensors, info = decode_state(make_state(wallets))
    frames = tensors["frames"].clone()
    frames[0] += far
    return encode_state(frames, tensors["players"], space="demo", players=list(info.players), timeline=[])


def save(app, data: bytes) -> str:
    head = app.meta.get_head("w", "main")
    record, _ = app.store.save(ALPHA, SaveRequest(world="w", size=len(data), expected_parent=head or ""), [data])
    return record.id


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION, info.value.details()
    return info.value


def test_a_token_outlives_prune_delete_and_collection(tmp_path, monkeypatch):
    monkeypatch.setattr(chunk_store, "TOUCH_SLACK_S", 0.0)  # the domain's test hook: a 0 s grace is safe here
    with serve(tmp_path / "data") as s:
        app, stub = s.app, s.stub
        admin = Client(s.address, ensure_admin_key(app.meta, app.settings.data_dir))
        bob, _ = sign_in(stub, "bob")
        alice, _ = sign_in(stub, "alice")
        token = stub.Claim(pb.ClaimRequest(space="demo", snapshot=s.snapshot, kind="player", index=OUTLIER_PLAYER),
                           metadata=bob)
        wallets = [s.wallets["alice"].address, s.wallets["bob"].address, None, None]
        first = save(app, variant(wallets, 50.0))  # the discovery of its far frame 0
        later = save(app, variant([*wallets[:3], s.wallets["dave"].address], 50.0))  # holds it too; the head
        time.sleep(0.01)

        done = admin.prune_snapshots(time.time(), world="w")
        assert (done.pruned, done.kept) == (1, 2)  # the token's snapshot and the head stay
        gone = refused(lambda: stub.Claim(pb.ClaimRequest(space="demo", snapshot=first, kind="player", index=0),
                                          metadata=alice))
        assert f"snapshot {first} was pruned at" in gone.details() and "cannot be claimed" in gone.details()
        gone = refused(lambda: stub.Claim(pb.ClaimRequest(space="demo", snapshot=later, kind="frame", index=0),
                                          metadata=alice))
        assert f"was discovered as frame 0 of snapshot {first}" in gone.details() and "was pruned" in gone.details()

        deleted = admin.delete_world("w")
        assert (deleted.pruned, deleted.kept, deleted.heads) == (1, 1, 1)
        collected = admin.collect_garbage(0.0)
        assert collected.manifests.count == 2 and collected.chunks.count >= 1  # both far frames' states went
        assert admin.collect_garbage(0.0, dry_run=True).manifests.count == 0

        got = stub.DownloadVector(pb.DownloadVectorRequest(token_id=token.token_id), metadata=bob)
        assert hashlib.sha256(got.data).hexdigest() == token.token_id
        picture = Pictures.of_app(app).get(ADMIN, s.snapshot, "player", OUTLIER_PLAYER)  # a deleted world's token
        assert picture.png.startswith(b"\x89PNG")
        admin.close()
