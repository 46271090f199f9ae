"""A discovery belongs to its discoverer (issue 13 item 2): the earliest committed snapshot that holds a vector's
bytes, whichever snapshot a claim names. Before, the market asked only the snapshot the claim named: server beta
re-saved server alpha's legendary frame (and a player's vector) in its own world, and beta's payout wallet (and
beta's player) claimed the tokens."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import torch

from multiverse.blobs import open_blob_store
from multiverse.crossing import Crossing, CrossSpec, pipeline_from
from multiverse.errors import PermissionDenied
from multiverse.market import ROLE_WALLET, Market, MarketConfig, MarketDb, VectorRef
from multiverse.metadata import open_metadata
from multiverse.metadata.models import snapshots, vector_backlog, vector_discoveries
from multiverse.records import ROLE_SERVER, SnapshotRecord
from multiverse.state.format import decode_state, encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest, Store
from tests.chain.conftest import memory_chain  # noqa: F401  (fixture)
from tests.chain.harness import Net
from tests.market.world import ADMIN, ALPHA, FRAMES, OUTLIER_FRAME, OUTLIER_PLAYER, SPACE, KnnRarity, make_state

BETA = Principal("beta", ROLE_SERVER)
COPY_FRAME, COPY_PLAYER = 3, 2  # where beta's state holds alpha's outliers


@dataclass
class Two:
    net: Net
    store: Store
    market: Market
    a: str  # alpha's snapshot: the outlier frame and player vector, first committed
    b: str  # beta's snapshot: the same bytes, committed later in beta's own world


def wallet(address: str) -> Principal:
    return Principal(address, ROLE_WALLET)


def copied_state(original: bytes, player_wallet: str) -> bytes:
    """Another state (other frames and players) holding ``original``'s outlier frame and player vector, the copied
    player named with ``player_wallet``."""
    tensors, _ = decode_state(original)
    g = torch.Generator().manual_seed(99)
    frames = torch.randn((FRAMES, 4, 3, 2), generator=g).half()
    vectors = torch.randn((4, 8), generator=g).half()
    frames[COPY_FRAME] = tensors["frames"][OUTLIER_FRAME]
    vectors[COPY_PLAYER] = tensors["players"][OUTLIER_PLAYER]
    people = [{"uuid": f"00000000-0000-4000-8000-0000000000b{i}", "name": f"b{i}", "stats": {}} for i in range(4)]
    people[COPY_PLAYER]["wallet"] = player_wallet
    return encode_state(frames, vectors, space="demo", players=people, timeline=[])


def save(store: Store, who: Principal, world: str, data: bytes, parent: str = "") -> SnapshotRecord:
    return store.save(who, SaveRequest(world=world, size=len(data), expected_parent=parent), [data])[0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    from tests.support.postgres import create_schema

    return create_schema(request.getfixturevalue("postgres_url"))


@pytest.fixture
def two(memory_chain, db_url, tmp_path):  # noqa: F811
    net = memory_chain
    chain_snapshot = net.snapshot()
    store = Store(open_metadata(db_url), open_blob_store(str(tmp_path / "blobs")), tmp_path / "spool")
    store.register_space(ADMIN, SPACE)
    store.create_world(ADMIN, "w", "demo", owner="alpha")
    store.create_world(ADMIN, "wb", "demo", owner="beta")
    original = make_state([net.alice.address, net.bob.address, None, net.carol.address])
    a = save(store, ALPHA, "w", original)
    b = save(store, BETA, "wb", copied_state(original, net.dave.address))
    db = MarketDb(store.meta, net.chain.contracts.token)
    market = Market(store.meta, store.blobs, net.chain, db, KnnRarity(store), MarketConfig(min_tier="rare"))
    market.set_payout(ALPHA, "alpha", net.carol.address)
    market.set_payout(BETA, "beta", net.dave.address)
    try:
        yield Two(net, store, market, a.id, b.id)
    finally:
        store.meta.close()
        net.revert(chain_snapshot)


def test_a_copied_frame_is_claimed_only_by_the_payout_wallet_of_its_first_committer(two):
    net, market = two.net, two.market
    copy = VectorRef("demo", two.b, "frame", COPY_FRAME)
    with pytest.raises(PermissionDenied, match=two.a) as refused:
        market.claim(wallet(net.dave.address), copy)  # beta's payout wallet, naming beta's own snapshot
    assert refused.value.details["discovery_snapshot"] == two.a
    assert refused.value.details["discoverer"] == net.carol.address
    assert market.list_tokens() == []
    # alpha's payout wallet claims it, naming beta's snapshot; the token names the discovery
    token = market.claim(wallet(net.carol.address), copy)
    assert (token.owner, token.snapshot, token.kind, token.vector_index) == (
        net.carol.address, two.a, "frame", OUTLIER_FRAME)
    assert net.chain.token_info(token.token_id).provenance.snapshot == two.a
    # beta's own vectors stay beta's
    own = market.read(VectorRef("demo", two.b, "frame", 0))
    assert market.discoverer_of(own) == net.dave.address


def test_a_copied_player_vector_is_claimed_only_by_the_wallet_in_the_first_committed_record(two):
    net, market = two.net, two.market
    copy = VectorRef("demo", two.b, "player", COPY_PLAYER)
    with pytest.raises(PermissionDenied, match=two.a):
        market.claim(wallet(net.dave.address), copy)  # the wallet beta's copied player record names
    token = market.claim(wallet(net.bob.address), copy)  # the wallet in alpha's record of that player
    assert (token.owner, token.snapshot, token.kind, token.vector_index) == (
        net.bob.address, two.a, "player", OUTLIER_PLAYER)


def test_the_first_commit_wins_whichever_server_it_is(two):
    """Order, not ownership, decides: a vector beta commits before alpha does is beta's."""
    net, store, market = two.net, two.store, two.market
    g = torch.Generator().manual_seed(5)
    fresh = torch.randn((FRAMES, 4, 3, 2), generator=g).half()
    fresh[0] += 50.0
    people = [{"uuid": "00000000-0000-4000-8000-0000000000c1", "name": "c", "stats": {}}]
    players = torch.zeros((1, 8)).half()
    first = save(store, BETA, "wb", encode_state(fresh, players, space="demo", players=people, timeline=[]), two.b)
    second = save(store, ALPHA, "w", encode_state(fresh.flip(0), players, space="demo", players=people, timeline=[]),
                  two.a)
    with pytest.raises(PermissionDenied, match=first.id):
        market.claim(wallet(net.carol.address), VectorRef("demo", second.id, "frame", FRAMES - 1))
    token = market.claim(wallet(net.dave.address), VectorRef("demo", second.id, "frame", FRAMES - 1))
    assert (token.snapshot, token.vector_index) == (first.id, 0)


def test_a_cross_records_its_vectors_and_copied_frames_stay_their_parents(two):
    store, market = two.store, two.market
    crossing = Crossing.over(store)
    spec = CrossSpec((two.a, two.b), pipeline_from("crossover_kpoint", {"points": [2]}, None), name="child")
    child = crossing.cross(ADMIN, spec).snapshot  # frames 0-1 of alpha's state, 2-23 of beta's
    mix = CrossSpec((two.a, two.b), pipeline_from("linear", {}, None), name="mix")
    blended = crossing.cross(ADMIN, mix).snapshot

    def first_holder(snapshot: str, index: int) -> tuple[str, str, int] | None:
        return market.discoveries.first_holder(market.read(VectorRef("demo", snapshot, "frame", index)).token_id)

    assert first_holder(child.id, 0) == (two.a, "frame", 0)
    assert first_holder(child.id, COPY_FRAME) == (two.a, "frame", OUTLIER_FRAME)  # beta's copy of alpha's
    assert first_holder(child.id, 13) == (two.b, "frame", 13)
    assert first_holder(blended.id, 0) == (blended.id, "frame", 0)  # a new vector: the cross discovered it


def test_snapshots_stored_before_the_migration_are_hashed_and_rank_before_later_commits(two):
    """After the upgrade that adds the record, snapshots stored before it wait in the backlog; a claim hashes them
    first and ranks them before commits recorded since, in created_at order among themselves."""
    net, store, market = two.net, two.store, two.market
    # as migration 0007 left a database whose snapshots were stored before it: no discoveries, every snapshot in the
    # backlog (a downgrade below 0009 is refused once chunked states exist: it would drop them)
    with store.meta.engine.begin() as conn:
        conn.execute(vector_discoveries.delete())
        conn.execute(vector_backlog.insert().from_select(["snapshot", "created_at"],
                                                         sa.select(snapshots.c.id, snapshots.c.created_at)))
    with store.meta.engine.connect() as conn:
        assert set(conn.execute(sa.select(vector_backlog.c.snapshot)).scalars()) == {two.a, two.b}
        assert conn.execute(sa.select(sa.func.count()).select_from(vector_discoveries)).scalar_one() == 0
    # a commit after the upgrade is recorded at once: it is the first among those recorded so, not before them
    again = _relabelled(store.blobs.read(store.meta.get_snapshot(two.b).state))
    later = save(store, BETA, "wb", again, two.b)
    with pytest.raises(PermissionDenied, match=two.a):
        market.claim(wallet(net.dave.address), VectorRef("demo", later.id, "frame", COPY_FRAME))
    with store.meta.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(vector_backlog)).scalar_one() == 0
    token = market.claim(wallet(net.carol.address), VectorRef("demo", later.id, "frame", COPY_FRAME))
    assert token.snapshot == two.a


def _relabelled(state: bytes) -> bytes:
    """The same vectors in a state with other metadata (a new state blob, a new snapshot)."""
    tensors, info = decode_state(state)
    return encode_state(tensors["frames"], tensors["players"], space="demo", players=info.players,
                        timeline=[{"frame": 0, "text": "again"}])
