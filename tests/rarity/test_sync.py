"""The rarity service in the App, without gRPC: every commit is scored (token spaces too), a re-save is not
scored twice, and a damaged pointer costs a rebuild, never a wrong score."""

from __future__ import annotations

from multiverse.app import App
from multiverse.auth import Principal
from multiverse.config import Settings
from multiverse.rarity import VectorId
from multiverse.records import ROLE_ADMIN, SpaceRecord
from multiverse.store import SaveRequest
from multiverse.synth import synth_state

ADMIN = Principal("root", ROLE_ADMIN)
TOKENS = SpaceRecord("tokens", (6, 8), "uint16", 4, vocab_size=512)


def save(app: App, world: str, data: bytes, key: str = "") -> str:
    head = app.store.heads(world).get("main", "")
    record, _ = app.store.save(ADMIN, SaveRequest(world, len(data), expected_parent=head, idempotency_key=key),
                                     [data])
    return record.id


def test_token_space_saves_are_scored_and_survive_a_lost_pointer(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    app = App.open(settings)
    try:
        app.store.register_space(ADMIN, TOKENS)
        app.store.create_world(ADMIN, "t1", "tokens")
        snaps = [save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=s), key=f"k{s}") for s in range(4)]
        again = save(app, "t1", synth_state(TOKENS, frames=30, players=2, seed=3), key="k3")  # a retried save
        assert again == snaps[-1]
        assert all(app.rarity.wait_scored(s, timeout=30) for s in snaps) and app.rarity.wait_idle(30)
        engine = app.rarity.engine("tokens")
        stats = engine.stats()
        assert stats["frame"].embedder.startswith("token-sketch") and stats["frame"].snapshots == 4
        assert stats["frame"].ids == 120 and stats["player"].ids == 8
        before = engine.rarity_of(VectorId(snaps[1], "frame", 4))
    finally:
        app.close()
    (settings.data_dir / "rarity" / "pointers.json").write_text("{not json")
    reopened = App.open(settings)
    try:
        after = reopened.rarity.engine("tokens").rarity_of(VectorId(snaps[1], "frame", 4))
        assert (after.score, after.tier, after.knn_distance, after.n) == (before.score, before.tier,
                                                                         before.knn_distance, before.n)
    finally:
        reopened.close()
