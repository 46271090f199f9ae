"""The chain indexer: follows the token's Transfer and Provenance and the exchange's Sold, Cancelled and
CounterIncremented events into the metadata database, block by block, ``confirmations`` blocks behind the head.

- Each block is recorded with its hash and parent hash; its events are upserted keyed by (chain id, block hash,
  transaction, log index), so indexing a block twice changes nothing.
- A reorg shows as a new block whose parent hash is not the stored hash of the block before it, or as a stored
  block whose hash the chain no longer has at that height. The indexer walks back to the newest stored block
  the chain still has (the fork point), forgets everything after it and indexes the new branch.
- What the events decide (a token's owner, a listing's status) is re-derived from the stored events after each
  change (see ``MarketDb._derive``): ownership in the database follows the chain.

One indexer at a time per chain, by the lease ``market-indexer:<chain id>`` in the metadata
(``multiverse.metadata.leases``): each round (``sync``) renews it, or tries to take it; an indexer without it is a
standby that writes nothing. A leader that dies (SIGKILL: no release) is replaced once its lease expires (``ttl``,
5 s), within a round of that; the new leader resumes after the last indexed block. Every write transaction of the
indexer first renews the lease inside itself (a conditional UPDATE of the lease row on holder and fencing token) and
rolls back if the lease changed hands, so a leader that stalled past its TTL cannot write once another took over:
a takeover and a write are ordered by the lease row, and there is no window in which both write. What remains is
liveness only: what a stalled leader read from the chain is dropped with its rolled-back write, and clock skew
between hosts can only make a standby take over early (the old leader's next write then fails). Indexers of one
process share a holder id (host:pid:random), so ``sync`` called directly keeps working beside the polling thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from multiverse.chain import Chain, ChainEvent
from multiverse.errors import FailedPrecondition, InvalidArgument, MultiverseError
from multiverse.metadata.leases import Lease, LeaseLost, Leases, fence, holder_id

from .db import EventRow, MarketDb

log = logging.getLogger("multiverse.market.indexer")
LEASE_TTL_S = 5.0


@dataclass(frozen=True)
class SyncResult:
    indexed: int  # blocks added
    rolled_back: int  # blocks forgotten because of a reorg
    head: int  # the last indexed block (-1: none)
    leading: bool = True  # False: another indexer leads; this one wrote nothing (head: what the leader has indexed)


@dataclass(frozen=True)
class Leadership:
    """Who indexes the chain, for health and describe: the lease's name, this indexer's holder id, the leader's
    ("" when the lease is free or expired) and its fencing token, and whether this indexer is the leader."""

    lease: str
    me: str
    leader: str
    token: int
    leading: bool


@functools.cache
def process_holder() -> str:
    """This process's holder id for the indexer's lease (one per process: its indexers share it, so a ``sync()``
    called directly works beside the polling thread)."""
    return holder_id()


class Indexer:
    def __init__(
        self,
        chain: Chain,
        db: MarketDb,
        *,
        confirmations: int = 0,
        start_block: int | None = None,
        max_blocks: int = 1000,
        holder: str | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``holder``: this indexer's id in the lease (default: the process's, ``process_holder``);
        ``lease_ttl_s``: how long the lease outlives the last renewal (a dead leader's standby waits that long)."""
        if not isinstance(confirmations, int) or not 0 <= confirmations <= 1000:
            raise InvalidArgument(
                "confirmations", confirmations, "use 0 to 1000 blocks (0: index the head at once)"
            )
        if not isinstance(lease_ttl_s, int | float) or not 0 < lease_ttl_s <= 3600:
            raise InvalidArgument("lease_ttl_s", lease_ttl_s, "use 0 < ttl <= 3600 seconds (5 by default)")
        self.chain, self.db, self.confirmations, self.max_blocks = chain, db, confirmations, max_blocks
        self.chain_id = chain.chain_id()
        self.start = chain.contracts.deployed_at if start_block is None else start_block
        self.holder = holder or process_holder()
        self.lease_name = f"market-indexer:{self.chain_id}"
        self.lease_ttl_s = float(lease_ttl_s)
        self._clock = clock
        self._leases = Leases(db.meta, clock)
        self._lease: Lease | None = None
        self._writes = MarketDb(_Fenced(db.meta, self._fence), db.token)  # every write checks the lease inside
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> SyncResult:
        """Index up to ``head - confirmations`` (at most ``max_blocks`` per call), handling reorgs, if this indexer
        holds (or can take) the lease; else nothing is written and ``leading`` is False."""
        with self._lock:
            if not self._lead():
                return self._standing_by()
            try:
                return self._sync()
            except LeaseLost as exc:
                log.warning("indexer %s: %s", self.holder, exc.message)
                self._lease = None
                return self._standing_by()

    def leadership(self) -> Leadership:
        """Who leads now, as the lease row says."""
        now, mine = self._leases.holder(self.lease_name), self._lease
        leading = now is not None and mine is not None and (now.holder, now.token) == (mine.holder, mine.token)
        return Leadership(self.lease_name, self.holder, now.holder if now else "", now.token if now else 0, leading)

    def _lead(self) -> bool:
        """Renew the lease if held, else try to take it; True if this indexer leads for the next ``ttl``."""
        if self._lease is not None:
            renewed = self._leases.renew(self._lease, self.lease_ttl_s)
            if renewed is None:
                log.warning("indexer %s lost the lease %s; standing by", self.holder, self.lease_name)
            self._lease = renewed
        if self._lease is None:
            self._lease = self._leases.acquire(self.lease_name, self.holder, self.lease_ttl_s)
            if self._lease is not None:
                log.info("indexer %s leads %s (token %d)", self.holder, self.lease_name, self._lease.token)
        return self._lease is not None

    def _fence(self, conn: sa.Connection) -> None:
        """First statement of each write transaction: extend our lease if it is still ours (holder and token),
        else raise ``LeaseLost`` (rolling the transaction back). The row lock this takes orders the write before
        any takeover, or the takeover before the write, which then fails."""
        lease = self._lease
        if lease is None:
            raise LeaseLost(f"indexer {self.holder} does not hold {self.lease_name}", lease=self.lease_name)
        expires = self._clock() + self.lease_ttl_s
        fence(conn, lease, "the indexer's write", expires_at=expires)
        self._lease = replace(lease, expires_at=expires)

    def _standing_by(self) -> SyncResult:
        last = self.db.last_block(self.chain_id)
        return SyncResult(0, 0, -1 if last is None else last[0], leading=False)

    def _sync(self) -> SyncResult:
        target = self.chain.block_number() - self.confirmations
        rolled = self._rewind()
        last = self.db.last_block(self.chain_id)
        number = self.start if last is None else last[0] + 1
        indexed = 0
        while number <= target and indexed < self.max_blocks:
            block = self.chain.block(number)
            parent = self.db.block_hash(self.chain_id, number - 1)
            if parent is not None and block.parent_hash != parent:  # the chain moved under us: walk back
                rolled += self._rewind()
                last = self.db.last_block(self.chain_id)
                number = self.start if last is None else last[0] + 1
                continue
            events = [_row(self.chain_id, e) for e in self.chain.block_logs(block)]
            if any(e.block_hash != block.hash for e in events):
                continue  # the block was replaced between the two reads: read it again
            self._writes.add_block(self.chain_id, number, block.hash, block.parent_hash, events)
            indexed += 1
            number += 1
        last = self.db.last_block(self.chain_id)
        return SyncResult(indexed, rolled, -1 if last is None else last[0])

    def check(self) -> None:
        """``FailedPrecondition`` unless the first block this indexer stored is still on the chain: otherwise the
        node serves another chain than the one indexed (a fresh in-process EVM, another network with the same
        chain id) and following it would erase every token's owner, which no reorg can justify."""
        with self._lock:
            first = self.db.first_block(self.chain_id)
            if first is not None:
                self._refuse_unless_on_chain(first)

    def _refuse_unless_on_chain(self, first: tuple[int, str]) -> None:
        number, stored = first
        head = self.chain.block_number()
        now = self.chain.block(number).hash if number <= head else None
        if now != stored:
            where = f"has {now}" if now else f"ends at block {head}"
            raise FailedPrecondition(
                f"the chain {self.chain_id} at {self.chain.describe()} is not the chain this market indexed: its block "
                f"{number} was {stored} and the node {where}. Nothing was deleted. Point the market at the node and "
                f"contracts it used before (for the embedded chain: keep the data directory's chain folder), or give "
                f"it a new database",
                block=number,
            )

    def _rewind(self) -> int:
        """Drop stored blocks the chain no longer has; returns how many. Never past the first stored block."""
        last = self.db.last_block(self.chain_id)
        if last is None:
            return 0
        number, head = last[0], self.chain.block_number()
        first = self.db.first_block(self.chain_id)
        fork = number
        while fork >= self.start:
            stored = self.db.block_hash(self.chain_id, fork)
            if fork <= head and stored is not None and self.chain.block(fork).hash == stored:
                break
            fork -= 1
        if fork == number:
            return 0
        if first is not None and fork < first[0]:
            self._refuse_unless_on_chain(first)  # raises: the whole indexed history is gone
        dropped = self._writes.rollback_after(self.chain_id, fork)
        log.warning("chain %s reorganised: forgot %d blocks after %d", self.chain_id, dropped, fork)
        return dropped

    def start_polling(self, interval_s: float = 1.0) -> None:
        """Sync now and then every ``interval_s`` seconds in a daemon thread until ``stop``: as the leader, or as a
        standby that tries to take the lease each round. The lease's TTL is raised to 3 rounds if it is shorter,
        so that a leader renews it at least twice before it expires."""
        if self._thread is not None:
            return
        self.lease_ttl_s = max(self.lease_ttl_s, 3 * interval_s)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.sync()
                except MultiverseError as exc:  # a node or the database down for a while: try again next round
                    log.warning("indexer: %s", exc.message)
                self._stop.wait(interval_s)

        self._thread = threading.Thread(target=loop, name="market-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and give the lease up, so a standby takes over at its next round instead of after the TTL."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self._lease is not None:
                try:
                    self._leases.release(self._lease)
                except MultiverseError as exc:  # the database is down: the lease expires by itself
                    log.warning("indexer %s could not release %s: %s", self.holder, self.lease_name, exc.message)
                self._lease = None


def _row(chain_id: int, e: ChainEvent) -> EventRow:
    args = dict(e.args)
    token_id = str(args.get("tokenId", "")) if e.name in ("Transfer", "Provenance", "Sold") else ""
    listing_hash = str(args.get("listingHash", "")) if e.name in ("Sold", "Cancelled") else ""
    return EventRow(
        chain_id,
        e.block_hash,
        e.tx_hash,
        e.log_index,
        e.block_number,
        e.contract,
        e.name,
        token_id,
        listing_hash,
        args,
    )


class _Fenced:
    """The metadata store, whose write transactions start with ``fence(conn)`` (the lease check)."""

    def __init__(self, meta: Any, fence: Callable[[sa.Connection], None]) -> None:
        self._meta, self._fence = meta, fence

    def __getattr__(self, name: str) -> Any:
        return getattr(self._meta, name)

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        with self._meta.transaction(write=write) as conn:
            if write:
                self._fence(conn)
            yield conn
