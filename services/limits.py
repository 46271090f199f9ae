"""Admission control for the gRPC server: no caller, stream or stall can take every worker thread.

grpc's synchronous server runs the interceptor pipeline on its polling thread, before it hands the call to a
thread pool (grpc/_server.py ``_process_event_and_continue`` -> ``_find_method_handler``); the handler it
returns then runs on the pool named by its behavior's ``experimental_thread_pool`` or on the server's pool.
``LimitInterceptor`` uses both facts:

- health checks (``grpc.health.v1.Health/Check``) and refusals run on a small reserve pool of their own, so
  they answer while every worker is busy; ``Health/Watch`` is grpc's non-blocking kind and holds no worker;
- every other call takes a slot of the ``Gate``: at most ``workers`` calls at once, of which at most
  ``max_streams`` streaming ones (saves, loads, watches, reflection), at most ``max_streams_per_key`` of them
  per caller (the API key or wallet session; callers without one share one budget). The polling thread peeks
  at the gate to route a refusal to the reserve pool; the worker takes the slot (the peek may race) and gives
  it back when the call ends, so a call that never reaches its handler holds nothing;
- a stream whose peer stalls is cut after ``stream_idle_s`` (services/idle.py).

A refusal is RESOURCE_EXHAUSTED, retriable, naming the limit and its setting.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

from multiverse import errors
from multiverse.config import Settings
from services.auth import token_from
from services.errors import to_status
from services.idle import IdleRequests, Watchdog

HEALTH = "/grpc.health.v1.Health/"
HEALTH_CHECK = HEALTH + "Check"
RESERVE_THREADS = 4  # health checks and refusals: each takes microseconds
PENDING_PER_WORKER = 32  # grpc's own cap on calls accepted or queued, a backstop against floods


@dataclass(frozen=True)
class RpcLimits:
    """The server's concurrency limits, checked once (``from_settings``) before the server is built."""

    workers: int
    max_streams: int
    max_streams_per_key: int
    stream_idle_s: float

    @classmethod
    def from_settings(cls, settings: Settings, workers: int | None = None) -> RpcLimits:
        """Limits from ``settings`` (``workers`` overrides its pool size); a bad value names its setting."""
        n = workers or settings.workers
        if n < 2:
            raise errors.InvalidArgument("workers", n, "give at least 2 worker threads (MULTIVERSE_WORKERS)")
        streams = settings.max_streams or max(1, n // 2)
        if not 1 <= streams < n:
            raise errors.InvalidArgument(
                "max_streams", streams,
                f"give 1 to {n - 1} (fewer than workers={n}, so that unary calls always find a worker), "
                "or 0 for half the workers (MULTIVERSE_MAX_STREAMS)")
        if settings.max_streams_per_key < 1:
            raise errors.InvalidArgument("max_streams_per_key", settings.max_streams_per_key,
                                         "give at least 1 (MULTIVERSE_MAX_STREAMS_PER_KEY)")
        if not settings.stream_idle_s > 0:
            raise errors.InvalidArgument("stream_idle_s", settings.stream_idle_s,
                                         "give a positive number of seconds (MULTIVERSE_STREAM_IDLE_S)")
        return cls(n, streams, settings.max_streams_per_key, settings.stream_idle_s)


class Gate:
    """Counts the calls in progress against ``RpcLimits``; thread-safe. ``enter`` takes a slot or raises."""

    def __init__(self, limits: RpcLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.calls = 0
        self.streams = 0
        self._per_key: Counter[str] = Counter()

    def refusal(self, streaming: bool, key: str) -> errors.ResourceExhausted | None:
        """Why a call would be refused now (None: it would be let in); takes nothing."""
        with self._lock:
            return self._refusal(streaming, key)

    def enter(self, streaming: bool, key: str) -> Ticket:
        """A slot for one call, to give back with ``Ticket.release``; raises errors.ResourceExhausted when full."""
        with self._lock:
            refused = self._refusal(streaming, key)
            if refused is not None:
                raise refused
            self.calls += 1
            if streaming:
                self.streams += 1
                self._per_key[key] += 1
        return Ticket(self, streaming, key)

    def streams_of(self, key: str) -> int:
        """Streaming calls open for the caller ``key``."""
        with self._lock:
            return self._per_key[key]

    def _leave(self, streaming: bool, key: str) -> None:
        with self._lock:
            self.calls -= 1
            if streaming:
                self.streams -= 1
                self._per_key[key] -= 1
                if not self._per_key[key]:
                    del self._per_key[key]

    def _refusal(self, streaming: bool, key: str) -> errors.ResourceExhausted | None:
        lim = self.limits
        if self.calls >= lim.workers:
            return _refuse(f"the server is serving {self.calls} calls, its limit (workers={lim.workers})",
                           "retry in a moment, or run the server with more workers (MULTIVERSE_WORKERS)",
                           "workers", lim.workers)
        if streaming and self._per_key[key] >= lim.max_streams_per_key:
            return _refuse(f"this caller has {self._per_key[key]} streaming calls open (saves, loads, watches), "
                           f"its limit (max_streams_per_key={lim.max_streams_per_key})",
                           "end one of them before opening another, or retry once one has ended",
                           "max_streams_per_key", lim.max_streams_per_key)
        if streaming and self.streams >= lim.max_streams:
            return _refuse(f"the server has {self.streams} streaming calls open (saves, loads, watches), "
                           f"its limit (max_streams={lim.max_streams})",
                           "retry in a moment, or run the server with more (MULTIVERSE_MAX_STREAMS)",
                           "max_streams", lim.max_streams)
        return None


class Ticket:
    """One call's slot in a Gate; ``release`` gives it back once, however many times it is called."""

    def __init__(self, gate: Gate, streaming: bool, key: str) -> None:
        self._gate, self._streaming, self._key = gate, streaming, key
        self._once = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._once:
            held, self._held = self._held, False
        if held:
            self._gate._leave(self._streaming, self._key)


def _refuse(what: str, fix: str, limit: str, value: int) -> errors.ResourceExhausted:
    return errors.ResourceExhausted(f"{what}: {fix}", limit=limit, value=value)


class _Metadata:
    def __init__(self, metadata: Sequence[tuple[str, Any]] | None) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> Sequence[tuple[str, Any]] | None:
        return self._metadata


def caller_key(metadata: Sequence[tuple[str, Any]] | None) -> str:
    """The budget a call counts against: a hash of its API key or session token ("" for none; never the token,
    which could end up in a log)."""
    token = token_from(_Metadata(metadata))  # type: ignore[arg-type] - token_from reads invocation_metadata only
    return hashlib.sha256(token.encode()).hexdigest()[:32] if token else ""


class LimitInterceptor(grpc.ServerInterceptor):
    """Gates every call but health checks (see the module docstring)."""

    def __init__(self, limits: RpcLimits) -> None:
        self.limits = limits
        self.gate = Gate(limits)
        self.watchdog = Watchdog()
        self._reserve = futures.ThreadPoolExecutor(RESERVE_THREADS, thread_name_prefix="grpc-reserve")

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        """On grpc's polling thread: the call's handler, gated, or one that refuses it on the reserve pool."""
        handler = continuation(details)
        method = details.method
        if handler is None or method.startswith(HEALTH):
            return self._on_reserve(handler) if method == HEALTH_CHECK and handler is not None else handler
        streaming = handler.request_streaming or handler.response_streaming
        key = caller_key(details.invocation_metadata)
        refused = self.gate.refusal(streaming, key)
        if refused is not None:
            return self._refusal_handler(handler, refused)
        return self._gated(handler, method, streaming, key)

    def _on_reserve(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        def check(request: Any, context: grpc.ServicerContext) -> Any:
            return handler.unary_unary(request, context)

        check.experimental_thread_pool = self._reserve  # type: ignore[attr-defined]
        return grpc.unary_unary_rpc_method_handler(check, handler.request_deserializer, handler.response_serializer)

    def _refusal_handler(self, handler: grpc.RpcMethodHandler,
                         refused: errors.ResourceExhausted) -> grpc.RpcMethodHandler:
        def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
            context.abort_with_status(to_status(refused))

        refuse.experimental_thread_pool = self._reserve  # type: ignore[attr-defined]
        # No deserializer: a refused request is never parsed.
        return _handler_like(handler, refuse, None, handler.response_serializer)

    def _gated(self, handler: grpc.RpcMethodHandler, method: str, streaming: bool, key: str) -> grpc.RpcMethodHandler:
        inner = handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
        idle_s, gate, watchdog = self.limits.stream_idle_s, self.gate, self.watchdog

        def enter(context: grpc.ServicerContext) -> Ticket:
            try:
                ticket = gate.enter(streaming, key)
            except errors.ResourceExhausted as exc:  # the polling thread's peek raced with another call
                context.abort_with_status(to_status(exc))
            context.add_callback(ticket.release)  # a stream the client dropped may never be closed
            return ticket

        def unary_response(request: Any, context: grpc.ServicerContext) -> Any:
            ticket = enter(context)
            requests = IdleRequests(request, idle_s, method) if handler.request_streaming else None
            try:
                return inner(requests or request, context)
            except errors.MultiverseError as exc:  # a handler outside services/errors.py's translation
                context.abort_with_status(to_status(exc))
            finally:
                if requests is not None:
                    requests.close()
                ticket.release()

        def stream_response(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            ticket = enter(context)
            requests = IdleRequests(request, idle_s, method) if handler.request_streaming else None
            try:
                # Armed while grpc sends each message (a client that stops reading blocks the send), not
                # while the handler waits for something to send (a watch waits by design).
                yield from watchdog.guard(inner(requests or request, context), idle_s, context, method)
            except errors.MultiverseError as exc:
                context.abort_with_status(to_status(exc))
            finally:
                if requests is not None:
                    requests.close()
                ticket.release()

        behavior = stream_response if handler.response_streaming else unary_response
        return _handler_like(handler, behavior, handler.request_deserializer, handler.response_serializer)


def _handler_like(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any], deserializer: Any,
                  serializer: Any) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s arity that runs ``behavior``."""
    make = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
    return make[handler.request_streaming, handler.response_streaming](behavior, deserializer, serializer)
