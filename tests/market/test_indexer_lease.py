"""One market indexer at a time, by the lease ``market-indexer:<chain id>`` in the metadata.

Over one PostgreSQL metadata: a leader in its own process indexes a sale while a standby waits; the leader is
killed (SIGKILL: no release) and the standby takes over within TTL + one round, indexing the sale made meanwhile
exactly once. A leader stalled between reading a block and writing it, resumed after another took over, writes
nothing. In one process (SQLite) ``sync`` keeps working, and a clean stop hands over at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from multiverse.blobs import open_blob_store
from multiverse.errors import InvalidArgument
from multiverse.market import ROLE_WALLET, Indexer, Market, MarketConfig, MarketDb, VectorRef
from multiverse.market import tables as t
from multiverse.market.indexer import process_holder
from multiverse.metadata import open_metadata
from multiverse.metadata.leases import Leases
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest, Store
from tests.chain.harness import ETHER, Net
from tests.market.conftest import SIGNIN
from tests.market.world import ADMIN, ALPHA, OUTLIER_PLAYER, SPACE, KnnRarity, make_state
from tests.support.postgres import create_schema

TTL, POLL = 1.5, 0.2  # seconds: the lease's time to live and the polling round (5 s and 1 s in the App)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PgMarket:
    net: Net
    url: str
    db: MarketDb
    market: Market
    snapshot: str
    rpc: str = ""  # the chain node's URL, for a process of its own

    def indexer(self, holder: str, chain=None, **kw) -> Indexer:
        """An indexer with its own connection pool, as another process would have."""
        meta = open_metadata(self.url)
        self._opened.append(meta)
        return Indexer(chain or self.net.chain, MarketDb(meta, self.db.token), holder=holder, lease_ttl_s=TTL, **kw)

    def close(self) -> None:
        for meta in [*self._opened, self.db.meta]:
            meta.close()

    def __post_init__(self) -> None:
        self._opened: list = []


def pg_market(net: Net, postgres_url: str, tmp: Path) -> PgMarket:
    """The market's world (tests/market/world.py) on a fresh PostgreSQL schema."""
    url = create_schema(postgres_url)
    meta = open_metadata(url)
    store = Store(meta, open_blob_store(str(tmp / "blobs")), tmp / "spool")
    store.register_space(ADMIN, SPACE)
    store.create_world(ADMIN, "w", "demo", owner="alpha")
    data = make_state([net.alice.address, net.bob.address, None, net.carol.address])
    record, _ = store.save(ALPHA, SaveRequest(world="w", size=len(data)), [data])
    db = MarketDb(meta, net.chain.contracts.token)
    market = Market(meta, store.blobs, net.chain, db, KnnRarity(store), MarketConfig(min_tier="rare", signin=SIGNIN))
    return PgMarket(net, url, db, market, record.id)


def claim(m: PgMarket) -> str:
    who = Principal(m.net.bob.address, ROLE_WALLET)
    return m.market.claim(who, VectorRef("demo", m.snapshot, "player", OUTLIER_PLAYER)).token_id


def sell(m: PgMarket, token_id: str, seller, buyer) -> str:
    """List ``token_id`` for 1 ether and buy it on the chain; returns the listing's hash."""
    who = Principal(seller.address, ROLE_WALLET)
    m.net.approve_exchange(seller)
    prepared = m.market.prepare_listing(who, token_id, price=ETHER)
    signature = seller.sign(prepared.listing)
    stored = m.market.submit_listing(who, prepared.listing, signature)
    m.net.buy(buyer, prepared.listing, signature)
    return stored.listing_hash


def sales(m: PgMarket) -> dict[str, int]:
    """Indexed Sold events per listing hash (rows of market_chain_events)."""
    c = t.chain_events.c
    q = sa.select(c.listing_hash, sa.func.count()).where(c.name == "Sold").group_by(c.listing_hash)
    with m.db.meta.transaction() as conn:
        return {h: int(n) for h, n in conn.execute(q)}


def blocks(m: PgMarket) -> tuple[int, int, int]:
    """(first, last, count) of the indexed blocks: count == last - first + 1 when none is missing."""
    c = t.chain_blocks.c
    with m.db.meta.transaction() as conn:
        query = sa.select(sa.func.min(c.number), sa.func.max(c.number), sa.func.count())
        first, last, count = conn.execute(query).one()
    return first, last, count


def owner(m: PgMarket, token_id: str) -> str:
    return m.db.get_token(token_id).owner


def until(what, timeout: float = 20.0, step: float = 0.02) -> float:
    """Seconds until ``what()`` is true; fails after ``timeout``."""
    start = time.monotonic()
    while not what():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(step)
    return time.monotonic() - start


@pytest.fixture
def anvil_pg(anvil_chain, anvil_url, postgres_url, tmp_path):
    snapshot = anvil_chain.snapshot()
    m = pg_market(anvil_chain, postgres_url, tmp_path)
    m.rpc = anvil_url
    try:
        yield m
    finally:
        m.close()
        anvil_chain.revert(snapshot)


def spawn_leader(m: PgMarket, start: int) -> subprocess.Popen:
    contracts = m.net.chain.contracts
    args = {"db": m.url, "rpc": m.rpc, "token": contracts.token, "exchange": contracts.exchange,
            "start": start, "holder": "leader", "ttl": TTL, "poll": POLL}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.market.indexer_proc", json.dumps(args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + proc.stdout.read()
    return proc


def test_the_standby_takes_over_from_a_killed_leader_and_counts_each_sale_once(anvil_pg):
    m = anvil_pg
    start = m.net.chain.contracts.deployed_at
    leader = spawn_leader(m, start)
    standby = m.indexer("standby", start_block=start)
    try:
        until(lambda: standby.leadership().leader == "leader")
        standby.start_polling(POLL)
        token = claim(m)
        first = sell(m, token, m.net.bob, m.net.dave)
        until(lambda: owner(m, token) == m.net.dave.address)  # indexed by the leader in its process
        assert standby.leadership() == standby.leadership().__class__(
            standby.lease_name, "standby", "leader", 1, leading=False
        )

        leader.kill()  # SIGKILL: the lease is not released
        killed = time.monotonic()
        second: list[str] = []
        meanwhile = threading.Thread(target=lambda: second.append(sell(m, token, m.net.dave, m.net.carol)))
        meanwhile.start()
        until(lambda: standby.leadership().leading)
        takeover = time.monotonic() - killed
        meanwhile.join()
        until(lambda: owner(m, token) == m.net.carol.address)
        print(f"takeover after SIGKILL: {takeover:.2f} s (ttl {TTL} s, round {POLL} s)")
        # not before the lease expired; within a round after it (plus 1 s of slack for a loaded 2-core machine)
        assert TTL - POLL - 0.3 < takeover < TTL + POLL + 1.0

        until(lambda: blocks(m)[1] == m.net.chain.block_number())
        assert sales(m) == {first: 1, second[0]: 1}  # the sale made meanwhile is counted, and once
        assert [x.status for x in m.db.listings(token_id=token, status="")] == ["sold", "sold"]
        first_block, last_block, count = blocks(m)
        assert first_block == start and count == last_block - first_block + 1  # no block missed across the takeover
        assert standby.leadership().token == 2
    finally:
        leader.kill()
        leader.wait()
        standby.stop()
    assert Leases(m.db.meta).holder(standby.lease_name) is None  # a clean stop released it


class Stalling:
    """The real chain, whose ``block_logs`` waits at a gate once armed: a leader that stalls between reading a block
    and writing it (a long GC pause, a stopped VM), longer than its lease's TTL."""

    def __init__(self, chain) -> None:
        self._chain, self.armed, self.entered, self.go = chain, False, threading.Event(), threading.Event()

    def __getattr__(self, name: str):
        return getattr(self._chain, name)

    def block_logs(self, block):
        if self.armed:
            self.armed = False
            self.entered.set()
            self.go.wait(30)
        return self._chain.block_logs(block)


@pytest.fixture
def memory_pg(memory_chain, postgres_url, tmp_path):
    snapshot = memory_chain.snapshot()
    m = pg_market(memory_chain, postgres_url, tmp_path)
    try:
        yield m
    finally:
        m.close()
        memory_chain.revert(snapshot)


def test_a_stalled_leader_resumed_after_a_takeover_does_not_write(memory_pg):
    m = memory_pg
    stalling = Stalling(m.net.chain)
    old = m.indexer("old", chain=stalling)
    assert old.sync().leading
    before = blocks(m)
    token = claim(m)
    listing = sell(m, token, m.net.bob, m.net.dave)

    stalling.armed = True
    result: list = []
    resumed = threading.Thread(target=lambda: result.append(old.sync()))
    resumed.start()
    assert stalling.entered.wait(10)  # the old leader renewed its lease and read a block; it stalls before writing
    time.sleep(TTL + 0.1)
    new = m.indexer("new")
    assert Leases(new.db.meta).acquire(new.lease_name, "new", TTL) is not None  # the new leader's first round
    stalling.go.set()
    resumed.join(10)

    assert result[0].leading is False and result[0].indexed == 0
    assert blocks(m) == before and sales(m) == {}  # the old leader wrote nothing after the takeover
    assert owner(m, token) == m.net.bob.address
    assert old.sync().leading is False and blocks(m) == before  # and stands by from then on
    assert new.sync().leading and sales(m) == {listing: 1} and owner(m, token) == m.net.dave.address
    assert old.leadership().leader == "new" and not old.leadership().leading


def test_indexers_of_one_process_share_the_lease_so_sync_keeps_working(mkt):
    first = mkt.indexer.sync()
    again = Indexer(mkt.net.chain, mkt.db).sync()  # a second indexer of this process (the demo, a claim)
    assert first.leading and again.leading and again.head == first.head
    who = mkt.indexer.leadership()
    assert who.me == who.leader == process_holder() and who.leading and who.lease.startswith("market-indexer:")


def test_a_clean_stop_hands_the_lease_over_at_the_next_round(mkt):
    a = Indexer(mkt.net.chain, mkt.db, holder="a", lease_ttl_s=600)
    b = Indexer(mkt.net.chain, mkt.db, holder="b", lease_ttl_s=600)
    head = a.sync().head
    mkt.net.fund(mkt.net.alice.address, 1)
    standing = b.sync()
    assert standing == standing.__class__(0, 0, head, leading=False)  # the standby wrote nothing
    a.stop()
    took = b.sync()
    assert took.leading and took.indexed == 1 and b.leadership().token == 2  # at once, not after 600 s


@pytest.mark.parametrize("ttl", [0, -1, 3601])
def test_a_lease_ttl_out_of_range_is_refused(mkt, ttl):
    with pytest.raises(InvalidArgument, match="lease_ttl_s"):
        Indexer(mkt.net.chain, mkt.db, lease_ttl_s=ttl)
