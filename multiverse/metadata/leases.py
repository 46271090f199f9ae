"""Leases in the metadata: one holder at a time for a named job (the market's indexer, a space's rarity worker).

    lease = Leases(meta).acquire("market-indexer", holder="host-1:4242", ttl_s=10.0)
    if lease:            # we hold it until lease.expires_at; renew well before
        lease = Leases(meta).renew(lease, ttl_s=10.0)   # None: lost (it expired and another took it)

A lease is one row of ``leases`` (migration 0010): whoever holds an unexpired row holds the lease; an expired one
may be taken by anyone, and each change of holder adds one to ``token`` (a fencing token: work stamped with an
older token came from a holder that has lost the lease). Every operation is one write transaction with a
conditional UPDATE (or an INSERT that fails on a taken name), so two contenders never both win, on SQLite
(BEGIN IMMEDIATE) and PostgreSQL (the UPDATE's WHERE re-checks the row a concurrent writer just committed) alike.
Times are the database client's clock (``time.time``): holders on one host or with synchronised clocks; the
TTL should exceed the clock skew between hosts by a wide margin.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from multiverse.errors import FailedPrecondition, InvalidArgument
from multiverse.metadata.models import leases


class LeaseLost(FailedPrecondition):
    """The writer's lease is no longer its own (it expired and another holder took it): its write is refused."""


def holder_id() -> str:
    """A new holder id, host:pid:random (the random part tells apart two holders of one process, and containers
    that share a host name and pid)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fence(conn: Any, lease: Lease, what: str, expires_at: float | None = None) -> None:
    """In the caller's write transaction: lock ``lease``'s row and raise LeaseLost (the transaction then rolls back,
    so ``what`` is not written) unless the lease is still its holder's, same token; with ``expires_at`` extend it.
    The row lock orders the write before any takeover, or the takeover before the write, which then fails."""
    done = conn.execute(
        leases.update()
        .where(leases.c.name == lease.name, leases.c.holder == lease.holder, leases.c.token == lease.token)
        .values(expires_at=leases.c.expires_at if expires_at is None else expires_at)
    ).rowcount
    if done != 1:
        raise LeaseLost(f"lease {lease.name!r} (token {lease.token}) is no longer held by {lease.holder!r}: another "
                        f"holder took it over, so {what} was not written", lease=lease.name)


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    expires_at: float


class Leases:
    def __init__(self, meta: Any, clock: Callable[[], float] = time.time) -> None:
        self.meta, self.clock = meta, clock

    def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        """The lease ``name`` for ``holder`` until now + ``ttl_s`` if it is free, expired or already ours; else None."""
        _check(name, holder, ttl_s)
        now = self.clock()
        with self.meta.transaction(write=True) as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).mappings().first()
            if row is None:
                stmt = self.meta.insert(leases).values(name=name, holder=holder, token=1, expires_at=now + ttl_s)
                taken = conn.execute(stmt.on_conflict_do_nothing().returning(leases.c.name)).first() is None
                return None if taken else Lease(name, holder, 1, now + ttl_s)  # taken: a concurrent first holder won
            if row["holder"] != holder and row["expires_at"] > now:
                return None
            token = row["token"] if row["holder"] == holder else row["token"] + 1
            done = conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.token == row["token"], leases.c.holder == row["holder"])
                .values(holder=holder, token=token, expires_at=now + ttl_s)
            ).rowcount
            return Lease(name, holder, token, now + ttl_s) if done == 1 else None

    def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """``lease`` extended to now + ``ttl_s`` if we still hold it (same holder and token); None if it was lost."""
        _check(lease.name, lease.holder, ttl_s)
        now = self.clock()
        with self.meta.transaction(write=True) as conn:
            done = conn.execute(
                leases.update()
                .where(leases.c.name == lease.name, leases.c.holder == lease.holder, leases.c.token == lease.token)
                .values(expires_at=now + ttl_s)
            ).rowcount
        return Lease(lease.name, lease.holder, lease.token, now + ttl_s) if done == 1 else None

    def release(self, lease: Lease) -> None:
        """Give ``lease`` up now (if we still hold it), so a standby need not wait for it to expire."""
        with self.meta.transaction(write=True) as conn:
            conn.execute(
                leases.update()
                .where(leases.c.name == lease.name, leases.c.holder == lease.holder, leases.c.token == lease.token)
                .values(expires_at=0.0)
            )

    def holder(self, name: str) -> Lease | None:
        """Who holds ``name`` now (None: nobody, or it expired)."""
        with self.meta.transaction() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).mappings().first()
        if row is None or row["expires_at"] <= self.clock():
            return None
        return Lease(row["name"], row["holder"], row["token"], row["expires_at"])


def _check(name: str, holder: str, ttl_s: float) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise InvalidArgument("lease.name", name, "name the lease in 1-200 characters")
    if not isinstance(holder, str) or not 0 < len(holder) <= 200:
        raise InvalidArgument("lease.holder", holder, "name the holder in 1-200 characters (host:pid, say)")
    if not 0 < ttl_s <= 3600:
        raise InvalidArgument("lease.ttl_s", ttl_s, "use 0 < ttl <= 3600 seconds")
