"""The chain indexer: follows the token's Transfer and Provenance and the exchange's Sold, Cancelled and
CounterIncremented events into the metadata database, block by block, ``confirmations`` blocks behind the head.

- Each block is recorded with its hash and parent hash; its events are upserted keyed by (chain id, block hash,
  transaction, log index), so indexing a block twice changes nothing.
- A reorg shows as a new block whose parent hash is not the stored hash of the block before it, or as a stored
  block whose hash the chain no longer has at that height. The indexer walks back to the newest stored block
  the chain still has (the fork point), forgets everything after it and indexes the new branch.
- What the events decide (a token's owner, a listing's status) is re-derived from the stored events after each
  change (see ``MarketDb._derive``): ownership in the database follows the chain.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from multiverse.chain import Chain, ChainEvent
from multiverse.errors import FailedPrecondition, InvalidArgument, MultiverseError

from .db import EventRow, MarketDb

log = logging.getLogger("multiverse.market.indexer")


@dataclass(frozen=True)
class SyncResult:
    indexed: int  # blocks added
    rolled_back: int  # blocks forgotten because of a reorg
    head: int  # the last indexed block (-1: none)


class Indexer:
    def __init__(
        self,
        chain: Chain,
        db: MarketDb,
        *,
        confirmations: int = 0,
        start_block: int | None = None,
        max_blocks: int = 1000,
    ) -> None:
        if not isinstance(confirmations, int) or not 0 <= confirmations <= 1000:
            raise InvalidArgument(
                "confirmations", confirmations, "use 0 to 1000 blocks (0: index the head at once)"
            )
        self.chain, self.db, self.confirmations, self.max_blocks = chain, db, confirmations, max_blocks
        self.chain_id = chain.chain_id()
        self.start = chain.contracts.deployed_at if start_block is None else start_block
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> SyncResult:
        """Index up to ``head - confirmations`` (at most ``max_blocks`` per call), handling reorgs."""
        with self._lock:
            return self._sync()

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
            self.db.add_block(self.chain_id, number, block.hash, block.parent_hash, events)
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
        dropped = self.db.rollback_after(self.chain_id, fork)
        log.warning("chain %s reorganised: forgot %d blocks after %d", self.chain_id, dropped, fork)
        return dropped

    def start_polling(self, interval_s: float = 1.0) -> None:
        """Sync every ``interval_s`` seconds in a daemon thread until ``stop``."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.sync()
                except MultiverseError as exc:  # a node down for a while: try again next round
                    log.warning("indexer: %s", exc.message)

        self._thread = threading.Thread(target=loop, name="market-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


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
