"""Which rarity worker scores which latent space: one holder per space by lease, each worker its fair share.

A space is scored by whoever holds the lease ``rarity:<space>`` (multiverse/metadata/leases.py), renewed every
third of its TTL. Each worker also announces itself with the lease ``rarity-worker:<holder>``; the workers live now
are the unexpired announcements, and a worker takes spaces only up to its fair share, ceil(spaces / live workers).
A worker holding more than its share (another one joined) gives the surplus up, after flushing it, so that the
spaces spread: with 3 spaces and 2 workers, 2 and 1. A worker that stops renewing (killed, stalled) loses its
leases at their TTL and the others take its spaces over (each then catches up from the persisted index's seq).
``plan`` is the pure part: given what is held, who lives, and which spaces exist, what to take and give up.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from multiverse.metadata.leases import Lease, Leases
from multiverse.metadata.models import leases as lease_rows

SPACE_PREFIX, WORKER_PREFIX = "rarity:", "rarity-worker:"


@dataclass(frozen=True)
class Plan:
    share: int  # how many spaces this worker may hold
    take: tuple[str, ...]  # spaces to try to take, best first
    give_up: tuple[str, ...]  # spaces held beyond the share


def plan(holder: str, held: Collection[str], spaces: Collection[str], live: int) -> Plan:
    """What a worker holding ``held`` should do among ``spaces`` with ``live`` workers (itself included). Candidates
    are ordered by a hash of (holder, space), so that workers starting together try different spaces first."""
    share = math.ceil(len(spaces) / max(live, 1)) if spaces else 0
    free = sorted((s for s in spaces if s not in held),
                  key=lambda s: hashlib.sha256(f"{holder}\0{s}".encode()).digest())
    surplus = sorted(held, reverse=True)[: max(len(held) - share, 0)]
    return Plan(share, tuple(free), tuple(surplus))


class Tenure:
    """Leases of one worker (``holder``): its announcement, and taking, renewing and releasing spaces."""

    def __init__(self, meta: Any, holder: str, ttl_s: float, clock: Callable[[], float] | None = None) -> None:
        self.meta, self.holder, self.ttl_s = meta, holder, ttl_s
        self.leases = Leases(meta, clock) if clock else Leases(meta)

    def announce(self) -> None:
        self.leases.acquire(WORKER_PREFIX + self.holder, self.holder, self.ttl_s)

    def live(self) -> int:
        """How many workers announced themselves and have not expired (this one included, once announced)."""
        now = self.leases.clock()
        with self.meta.transaction() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).where(lease_rows.c.name.startswith(WORKER_PREFIX, autoescape=True),
                                                 lease_rows.c.expires_at > now)).scalar_one())

    def take(self, space: str) -> Lease | None:
        return self.leases.acquire(SPACE_PREFIX + space, self.holder, self.ttl_s)

    def renew(self, lease: Lease) -> Lease | None:
        return self.leases.renew(lease, self.ttl_s)

    def release(self, lease: Lease) -> None:
        self.leases.release(lease)

    def leave(self, held: Mapping[str, Lease | None]) -> None:
        """Give every lease up (a clean stop): the others take the spaces over at once, not after the TTL."""
        for lease in held.values():
            if lease is not None:
                self.leases.release(lease)
        self.leases.release(Lease(WORKER_PREFIX + self.holder, self.holder, 1, 0.0))
