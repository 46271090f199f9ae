"""The commit event: who hears of each snapshot the metadata newly commits.

The metadata adapter fires it after the transaction succeeded (a save's ``commit_snapshot`` and a crossed
world's ``spawn_world`` alike), in commit order, so a listener such as the rarity service sees every stored
snapshot once, whichever object stored it. A listener must be quick (queue, not compute): it runs in the
committing thread while later commits wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from multiverse.records import SnapshotRecord

Listener = Callable[[SnapshotRecord], None]
log = logging.getLogger("multiverse.metadata")


class Commits:
    """The event port: ``subscribe(listener)``; the adapter calls ``fire(record)`` after each new commit."""

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()
        # held by the adapter across a committing transaction and its fire, so listeners hear commits in order
        self.order = threading.RLock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(record)`` after each snapshot newly committed from now on; returns the unsubscribe."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def fire(self, record: SnapshotRecord) -> None:
        """Tell every listener of ``record``; a listener's error is logged, never undoes or fails the commit."""
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # the commit stands whatever a listener does
                log.exception("commit listener %r failed on snapshot %s", listener, record.id)
