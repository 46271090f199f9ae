"""Leases: one holder at a time, taken over once expired, a fencing token that grows at each change of holder."""

from __future__ import annotations

import threading

from multiverse.metadata.leases import Leases


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_until_it_expires_then_the_standby_takes_over(meta):
    clock = Clock()
    leases = Leases(meta, clock)
    a = leases.acquire("indexer", "a", ttl_s=10)
    assert a is not None and a.token == 1
    assert leases.acquire("indexer", "b", ttl_s=10) is None
    clock.now += 5
    a = leases.renew(a, ttl_s=10)
    assert a is not None and leases.holder("indexer").holder == "a"
    clock.now += 11
    b = leases.acquire("indexer", "b", ttl_s=10)
    assert b is not None and b.token == 2
    assert leases.renew(a, ttl_s=10) is None  # a lost it: its renewal fails, its token is stale
    leases.release(b)
    assert leases.holder("indexer") is None
    a2 = leases.acquire("indexer", "a", ttl_s=10)
    assert a2 is not None and a2.token == 3


def test_concurrent_contenders_never_both_win(meta):
    leases = Leases(meta)
    won: list[str] = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        barrier.wait()
        if leases.acquire("space:x", f"w{i}", ttl_s=30):
            won.append(f"w{i}")

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
