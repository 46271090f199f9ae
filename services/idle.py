"""Bounds on how long a stream may wait on its peer, so that a stalled client cannot hold a worker thread.

A grpc handler thread that waits for a client's next message, or for the client to take a sent one (flow
control blocks the send once a few MiB are buffered), waits without a timeout. ``IdleRequests`` reads a call's
requests on a helper thread so that the handler's wait is bounded and ends with a clear status;
``Watchdog.guard`` cancels a call whose client has not taken a message for too long; ``StreamClock`` tells a
long-lived stream (WatchRare) when to end itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from multiverse import errors

log = logging.getLogger("multiverse.services")

_END = object()
_PUT_POLL_S = 0.5  # how soon a reader notices that its handler has gone
_LINGER_S = 10.0  # how long the watchdog thread stays without anything to watch


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class IdleRequests:
    """Iterates a call's request messages, raising errors.Cancelled when none arrives for ``idle_s``.

    A helper thread reads the messages (one ahead at most); it ends when the call ends, which the handler's
    status brings about. ``close`` tells it to stop handing messages over."""

    def __init__(self, requests: Iterator[Any], idle_s: float, method: str) -> None:
        self.idle_s, self.method = idle_s, method
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(requests,), name="grpc-request-reader", daemon=True)
        self._thread.start()

    def __iter__(self) -> IdleRequests:
        return self

    def __next__(self) -> Any:
        if self._closed.is_set():
            raise StopIteration
        try:
            item = self._queue.get(timeout=self.idle_s)
        except queue.Empty:
            self.close()
            raise errors.Cancelled(
                f"the client sent no message for {self.idle_s:g} s on {self.method}, the limit "
                f"(stream_idle_s={self.idle_s:g}): the server ended the call and kept nothing of it; "
                "send the messages without such pauses and call again",
                limit="stream_idle_s", value=self.idle_s) from None
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Failed):  # the call ended under the reader (client cancelled, deadline)
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        """Stop handing messages over; the reader ends once the call does."""
        self._closed.set()

    def _pump(self, requests: Iterator[Any]) -> None:
        try:
            for message in requests:
                if not self._offer(message):
                    return
            self._offer(_END)
        except Exception as exc:  # noqa: BLE001 - handed to the handler thread, which raises it
            self._offer(_Failed(exc))

    def _offer(self, item: Any) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False


class Watchdog:
    """Cancels calls whose client has not taken a sent message within its deadline. One helper thread,
    started on demand, which ends once nothing has been watched for a while."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, tuple[float, str, grpc.ServicerContext]] = {}
        self._thread: threading.Thread | None = None

    def guard(self, responses: Iterator[Any], idle_s: float, context: grpc.ServicerContext,
              method: str) -> Iterator[Any]:
        """``responses``, with a deadline of ``idle_s`` on grpc's sending of each (from the yield until grpc
        asks for the next one)."""
        key = id(context)
        try:
            for message in responses:
                self._arm(key, time.monotonic() + idle_s, method, context)
                yield message
                self._disarm(key)
        finally:
            self._disarm(key)
            close = getattr(responses, "close", None)
            if close is not None:  # at once, not when collected: a watch unregisters itself on close
                close()

    def _arm(self, key: int, deadline: float, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self._armed[key] = (deadline, method, context)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="grpc-stream-watchdog", daemon=True)
                self._thread.start()

    def _disarm(self, key: int) -> None:
        with self._lock:
            self._armed.pop(key, None)

    def _run(self) -> None:
        quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            with self._lock:
                due = [(k, v) for k, v in self._armed.items() if v[0] <= now]
                for k, _ in due:
                    del self._armed[k]
                if self._armed:
                    quiet_since = now
                elif not due and now - quiet_since > _LINGER_S:
                    self._thread = None
                    return
                wait = min((v[0] for v in self._armed.values()), default=now + 1.0) - now
            for _, (_, method, context) in due:
                log.warning("cancelled %s: its client took no message for the limit (stream_idle_s)", method)
                context.cancel()
            time.sleep(min(max(wait, 0.05), 1.0))


class StreamClock:
    """When a long-lived stream should end: ``idle_s`` after its last message, or ``max_s`` after it began."""

    def __init__(self, idle_s: float, max_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.idle_s, self.max_s, self._now = idle_s, max_s, now
        self._start = self._last = now()

    def touch(self) -> None:
        """A message went out: the idle time starts again."""
        self._last = self._now()

    def expired(self) -> str | None:
        """Why the stream should end now (a message for its client), or None."""
        now = self._now()
        if now - self._start >= self.max_s:
            return (f"the stream ended after {self.max_s:g} s, its longest (watch_max_s): "
                    "call again to keep watching")
        if now - self._last >= self.idle_s:
            return (f"the stream ended after {self.idle_s:g} s without a message, its idle limit (watch_idle_s): "
                    "call again to keep watching")
        return None
