"""Issue 18's proof: the split topology as separate OS processes (PostgreSQL, SeaweedFS, anvil, two store replicas,
a crossing service, two rarity workers, two market processes, the HTTP gateway; tests/topology/cluster.py) runs the
demo's flow through balanced clients, then survives a SIGKILL of each part that has a standby, in turn:

1. a store replica in the middle of saves: the client carries on against the other, and every acknowledged save
   loads back byte-identical, stored once;
2. the rarity worker holding a space: the other worker takes the space's lease and catches up from the persisted
   seq, and every committed snapshot is in its space's persisted index exactly once;
3. the market's indexer leader: the standby takes the lease over and a sale made meanwhile is counted once.

The tests share one cluster and run in this file's order (each step leaves the cluster one replica short)."""

from __future__ import annotations

import time

import httpx
import pytest

from multiverse.demo.sim import SPACE as TILEWORLD
from tests.topology.cluster import CHAIN_ID, Cluster, start_cluster
from tests.topology.flow import (
    SERVERS,
    SYNTH,
    Clients,
    Saving,
    Wallets,
    blocks,
    check_exactly_once,
    claim,
    fund,
    play,
    published,
    sales,
    sell,
    signed_in,
    until,
    wait_scored,
)

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_url, s3_server):
    with start_cluster(tmp_path_factory.mktemp("topology"), postgres_url, s3_server) as c:
        yield c


@pytest.fixture(scope="module")
def clients(cluster):
    clients = Clients.of(cluster, cluster.key)
    yield clients
    clients.close()


@pytest.fixture(scope="module")
def flowed(cluster, clients):
    """The demo's flow, run once: saves, a cross, rarity, claim, list, buy. What the later steps build on."""
    c, mv = cluster, clients
    saved = play(c, mv.store)
    parents = [saved[s][-1] for s in SERVERS]
    child = mv.crossing.cross(parents, name="aurora-x-bramble", op="slerp", params={"t": 0.5}, seed=1).snapshot.id
    mv.store.set_world_visibility("aurora-x-bramble", "public")
    wait_scored(mv.rarity, [*saved[SERVERS[0]], *saved[SERVERS[1]], child])
    wallets = Wallets()
    fund(c, mv.market, wallets)
    token, seller = claim(c, mv, wallets)
    first = sell(c, seller, wallets.keys["seller"], "buyer", wallets, token.token_id)
    seller.close()
    until(lambda: mv.market.get_token(token.token_id).owner == wallets.address("buyer"), 30, "the sale indexed")
    return {"saved": saved, "child": child, "token": token.token_id, "wallets": wallets, "first_sale": first}


def test_the_demo_flow_runs_across_the_processes(cluster, clients, flowed):
    c, mv = cluster, clients
    assert len(c.of("store")) == 2 and len(c.of("rarity")) == 2 and len(c.of("market")) == 2
    for world, ids in flowed["saved"].items():
        assert [s.id for s in mv.store.log(world)] == ids[::-1]
    assert all(chunked(p) + p.calls("SaveSnapshot") > 0 for p in c.of("store")), "saves on both replicas"
    assert mv.store.get_snapshot(flowed["child"]).parents == flowed["saved"][SERVERS[0]][-1:] + \
        flowed["saved"][SERVERS[1]][-1:]
    assert c.procs["crossing"].calls("CrossWorlds") == 1
    # spaces spread over the workers by lease: tileworld's worker scored it, the other serves it from its pointer
    assert c.holder(f"rarity:{TILEWORLD}") in c.live("rarity")
    # the sale: indexed once, by the one indexer leading
    assert sales(c) == {flowed["first_sale"]: 1}
    assert c.holder(f"market-indexer:{CHAIN_ID}") in c.live("market")
    # the gateway (http alone: reads rarity from the persisted indexes, the market without indexing)
    rare = until(lambda: [i for i in httpx.get(f"{c.gateway}/api/rare", params={"limit": 200}, timeout=30)
                          .json()["items"] if i["world"] in SERVERS], 30, "the gateway's /api/rare")
    assert {i["world"] for i in rare} <= set(SERVERS) and rare
    token = httpx.get(f"{c.gateway}/api/tokens/{flowed['token']}", timeout=30)
    assert token.status_code == 200 and token.json()["owner"] == flowed["wallets"].address("buyer")


def chunked(proc) -> int:
    """The chunked saves ``proc`` took (in one message or streamed)."""
    return proc.calls("SaveChunksAtOnce") + proc.calls("SaveChunks")


def test_sigkill_of_a_store_replica_mid_saves_loses_nothing(cluster, clients):
    c, mv = cluster, clients
    mv.store.register_space(SYNTH.name, SYNTH.frame_shape, SYNTH.dtype, SYNTH.player_dim)
    mv.store.create_world("burst", SYNTH.name)
    a, b = c.of("store")
    before = {p.address: chunked(p) for p in (a, b)}
    with Saving(mv.store, "burst") as saving:
        until(lambda: all(chunked(p) - before[p.address] >= 3 for p in (a, b)) or saving.failed, 60,
              "saves on both replicas")
        started = chunked(b)
        until(lambda: chunked(b) > started, 30, "a save reaching b", step=0.002)
        b.kill()  # SIGKILL, most likely while that save is in it
        acked_then = len(saving.acked)
        saving.more(6)
    assert not saving.failed
    assert len(saving.acked) >= acked_then + 6 and c.of("store")[0] is a and len(c.of("store")) == 1
    stored = [s.id for s in mv.store.log("burst")]
    assert sorted(stored) == sorted(saving.acked) and len(set(stored)) == len(stored), "each acknowledged save once"
    for snapshot, state in saving.acked.items():
        assert mv.store.load_snapshot(snapshot)[1] == state


def test_sigkill_of_the_rarity_worker_of_a_space_scores_each_snapshot_once(cluster, clients):
    c, mv = cluster, clients
    spaces = [TILEWORLD, SYNTH.name]
    until(lambda: {c.holder(f"rarity:{s}") for s in spaces} == c.live("rarity"), 30,
          "the two workers hold a space each")
    victim = c.holder(f"rarity:{SYNTH.name}")
    with Saving(mv.store, "burst", frames=12, seed=10_000) as saving:
        saving.more(4)
        c.procs[victim].kill()  # SIGKILL: its lease is neither renewed nor released; what it had not published is lost
        killed = time.monotonic()
        saving.more(8)
    (survivor,) = c.live("rarity")
    assert survivor != victim
    until(lambda: all(c.holder(f"rarity:{s}") == survivor for s in spaces), 30, "the survivor takes the lease")
    took = time.monotonic() - killed
    wait_scored(mv.rarity, list(saving.acked))
    until(lambda: published(c, spaces), 60, "every space's index published up to its last commit")
    assert check_exactly_once(c, spaces) >= len(saving.acked)
    print(f"rarity takeover after SIGKILL: {took:.1f} s")


def test_sigkill_of_the_indexer_leader_counts_a_sale_made_meanwhile_once(cluster, clients, flowed):
    c, mv, wallets, token = cluster, clients, flowed["wallets"], flowed["token"]
    leader = c.holder(f"market-indexer:{CHAIN_ID}")
    (standby,) = c.live("market") - {leader}
    c.procs[leader].kill()  # SIGKILL: the lease stays until its TTL passes
    with signed_in(c, wallets, "buyer") as holder:  # the token's owner sells it on, while nobody indexes
        second = sell(c, holder, wallets.keys["buyer"], "third", wallets, token)
    until(lambda: c.holder(f"market-indexer:{CHAIN_ID}") == standby, 30, "the standby takes the lease")
    until(lambda: mv.market.get_token(token).owner == wallets.address("third"), 30, "the sale made meanwhile")
    assert sales(c) == {flowed["first_sale"]: 1, second: 1}
    first, last, count = blocks(c)
    assert count == last - first + 1, "no block missed across the takeover"
    assert [e.name for e in mv.market.history(token)].count("Sold") == 2


def test_sigterm_stops_every_survivor_cleanly(cluster):
    alive = [n for n, p in cluster.procs.items() if p.popen.poll() is None]
    codes = cluster.stop()
    assert {n: codes[n] for n in alive} == dict.fromkeys(alive, 0)
