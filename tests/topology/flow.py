"""The demo's flow against a split topology, through balanced clients (one per service, each dialing the comma list
of that service's replicas): two simulated game servers save, the admin crosses their worlds, rarity scores every
snapshot, the discoverer of a rare frame claims it, lists it and another wallet buys it. Also the checks the SIGKILL
steps need: a game server saving back to back, the persisted rarity indexes counted, the indexed sales."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from multiverse import errors
from multiverse.client import Client
from multiverse.records import SpaceRecord
from multiverse.state.synth import synth_state
from tests.topology.cluster import Cluster

SERVERS = ("aurora", "bramble")
SYNTH = SpaceRecord("synth", (16, 18, 32), "float16", 8)  # a second space: the two rarity workers get one each
ETHER = 10**18


def until(what: Callable[[], object], timeout: float = 60.0, why: str = "", step: float = 0.1) -> object:
    """``what()``'s first truthy value; AssertionError naming ``why`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {why or what}"
        time.sleep(step)


@dataclass
class Clients:
    """The admin's balanced client of each service."""

    store: Client
    crossing: Client
    rarity: Client
    market: Client

    @classmethod
    def of(cls, c: Cluster, key: str) -> Clients:
        return cls(*(Client(c.address(s), key, timeout=60) for s in ("store", "multiverse", "rarity", "market")))

    def close(self) -> None:
        for client in (self.store, self.crossing, self.rarity, self.market):
            client.close()


def play(c: Cluster, admin: Client, ticks: int = 16) -> dict[str, list[str]]:
    """Two simulated servers (tileworld bots) save into public worlds at once, each through its own balanced
    client with its own API key; world -> snapshot ids, oldest first."""
    from multiverse.demo.sim import SimConfig, ensure_space, run_sim

    ensure_space(admin)
    keys = {name: admin.create_api_key(name).token for name in SERVERS}
    saved: dict[str, list[str]] = {}
    failed: list[BaseException] = []

    def server(i: int, name: str) -> None:
        try:
            with Client(c.address("store"), keys[name], timeout=60) as mv:
                cfg = SimConfig(server=name, ticks=ticks, seed=i, save_every=4, visibility="public")
                saved[name] = run_sim(mv, cfg, log=lambda _line: None).snapshots
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            failed.append(exc)

    threads = [threading.Thread(target=server, args=(i, n)) for i, n in enumerate(SERVERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return saved


def scored(rarity: Client, snapshot: str) -> bool:
    """Whether a rarity replica answers for ``snapshot``'s first frame (the balanced client asks either)."""
    try:
        rarity.rarity_of(snapshot, "frame", 0, brief=True)
        return True
    except errors.NotFound:
        return False


def wait_scored(rarity: Client, snapshots: list[str], timeout: float = 60.0) -> None:
    for snapshot in snapshots:
        until(lambda s=snapshot: scored(rarity, s), timeout, f"snapshot {snapshot[:12]} scored")


@dataclass
class Wallets:
    """Test wallets (fixed keys, never real ones): the discoverer (aurora's payout wallet), two buyers."""

    keys: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tests.chain.harness import key_for

        self.keys = {name: key_for(f"topology {name}") for name in ("seller", "buyer", "third")}

    def address(self, name: str) -> str:
        from eth_account import Account

        return Account.from_key(self.keys[name]).address


def fund(c: Cluster, market: Client, wallets: Wallets) -> None:
    """Ether for every wallet from anvil's well-known funded key."""
    with market.trader(wallets.keys["buyer"], rpc_url=c.rpc) as trader:
        for name in wallets.keys:
            trader.fund_from_dev_account(5 * ETHER, to=wallets.address(name))


def signed_in(c: Cluster, wallets: Wallets, name: str) -> Client:
    """A player's balanced client of the market, signed in with its wallet."""
    client = Client(c.address("market"), timeout=60)
    client.sign_in_with_key(wallets.keys[name])
    return client


def claim(c: Cluster, clients: Clients, wallets: Wallets, world: str = SERVERS[0]):
    """The rarest scored frame of ``world``, claimed by its server's payout wallet; (token, listing-ready client)."""
    clients.market.set_payout_address(wallets.address("seller"), principal=world)
    from multiverse.demo.sim import SPACE

    top = until(lambda: list(clients.rarity.top_rare(SPACE, kind="frame", world=world, limit=1).items), 30,
                f"a scored frame of {world}")[0]
    seller = signed_in(c, wallets, "seller")

    def attempt():
        try:  # the market's rarity reader loads the published index a moment after the worker scored it
            return seller.claim(top.id.snapshot, "frame", top.id.index)
        except (errors.NotFound, errors.FailedPrecondition):
            return None

    return until(attempt, 30, "the claim"), seller


def sell(c: Cluster, seller: Client, seller_key: str, buyer_name: str, wallets: Wallets, token_id: str) -> str:
    """List ``token_id`` for half an ether and buy it with ``buyer_name``'s wallet; the listing's hash."""
    listed = seller.list_token(token_id, ETHER // 2, seller_key, rpc_url=c.rpc)
    with signed_in(c, wallets, buyer_name) as buyer:
        bought = buyer.buy(token_id, wallets.keys[buyer_name], rpc_url=c.rpc)
    assert bought.listing_hash == listed.listing_hash
    return listed.listing_hash


def owner(market: Client, token_id: str) -> str:
    return market.get_token(token_id).owner


def sales(c: Cluster) -> dict[str, int]:
    """Indexed Sold events per listing hash (rows of the market's chain events)."""
    import sqlalchemy as sa

    from multiverse.market import tables as t

    e = t.chain_events.c
    query = sa.select(e.listing_hash, sa.func.count()).where(e.name == "Sold").group_by(e.listing_hash)
    with c.meta.transaction() as conn:
        return {h: int(n) for h, n in conn.execute(query)}


def blocks(c: Cluster) -> tuple[int, int, int]:
    """(first, last, count) of the indexed blocks: count == last - first + 1 when none was missed."""
    import sqlalchemy as sa

    from multiverse.market import tables as t

    b = t.chain_blocks.c
    with c.meta.transaction() as conn:
        first, last, count = conn.execute(sa.select(sa.func.min(b.number), sa.func.max(b.number),
                                                    sa.func.count())).one()
    return first, last, count


class Saving:
    """A game server saving synthetic states back to back into ``world`` through a balanced client, in a thread;
    ``acked``: snapshot id -> the bytes of every save that was acknowledged."""

    def __init__(self, client: Client, world: str, frames: int = 40, seed: int = 0) -> None:
        self.client, self.world, self.frames = client, world, frames
        self.acked: dict[str, bytes] = {}
        self.failed: list[BaseException] = []
        self._seed, self._stop = iter(range(seed, seed + 1_000_000)), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Saving:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(120)

    def _run(self) -> None:
        try:
            head = self.client.heads(self.world).get("main", "")
            while not self._stop.is_set():  # compare-and-swap on the head it last saved, as a game server does
                state = synth_state(SYNTH, frames=self.frames, players=2, seed=next(self._seed))
                head = self.client.save_snapshot(self.world, state, expected_parent=head).snapshot.id
                self.acked[head] = state
        except BaseException as exc:  # noqa: BLE001 - the test fails on it
            self.failed.append(exc)

    def more(self, n: int, timeout: float = 60.0) -> None:
        """Wait for ``n`` more acknowledged saves (failing on the saver's error)."""
        target = len(self.acked) + n
        until(lambda: len(self.acked) >= target or self.failed, timeout, f"{n} more saves")
        assert not self.failed, f"the balanced client failed: {self.failed[0]!r}"


def check_exactly_once(c: Cluster, spaces: list[str]) -> int:
    """Every committed snapshot of ``spaces`` is in its space's persisted index once: as many keys as it has
    vectors (scored twice into one index: twice as many; skipped: none), and the pointer covers the space's last
    commit. Returns how many snapshots were checked."""
    from multiverse.rarity.engine import RarityEngine

    pointers, checked = c.meta.rarity_pointers(), 0
    for space in spaces:
        records = commits(c, space)
        pointer = pointers[space]
        assert pointer.seq == records[-1].seq, (space, pointer.seq, records[-1].seq)
        engine = RarityEngine.load(c.raw_blobs, pointer.manifest)
        for r in records:
            frames = len(engine.population("frame").registry.snapshot_keys(r.id))
            players = len(engine.population("player").registry.snapshot_keys(r.id))
            assert (frames, players) == (r.frame_count, r.player_count), (space, r.seq, frames, players)
            checked += 1
    return checked


def published(c: Cluster, spaces: list[str]) -> bool:
    """Whether each space's pointer covers its last commit."""
    pointers = c.meta.rarity_pointers()
    return all(s in pointers and pointers[s].seq == commits(c, s)[-1].seq for s in spaces)


def commits(c: Cluster, space: str) -> list:
    """Every snapshot committed in ``space``, in commit order (page by page)."""
    found: list = []
    while page := c.meta.commits_after(found[-1].seq if found else 0, 10_000, space=space):
        found += page
    return found
