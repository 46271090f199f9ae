"""Request messages that do not parse are bad input: INVALID_ARGUMENT naming ``request``, like any other.

Left to itself, grpc's synchronous server deserializes each request message on its polling thread
(grpc/_server.py ``_receive_message``) and, when the deserializer raises, logs "Exception deserializing
message!" and answers INTERNAL "Exception deserializing request!". Two faults follow (grpc 1.85):

- a unary call refused that way is never finished on the server's connection: after grpc.max_concurrent_streams
  (services/server.py) of them, every call on that connection fails with RST_STREAM 7;
- a request stream refused that way simply ends for the handler, as if the client had half-closed it, so an
  upload whose last message does not parse is committed without it.

``DecodeInterceptor`` gives every handler a deserializer that never raises (it returns ``Undecodable``), so grpc
never takes that path, and a behavior that refuses the sentinel through the one error mapping
(services/errors.py): a unary request before the handler runs; a streamed one by raising errors.InvalidArgument
from the request iterator, inside the handler, so that what the handler was doing (a save) fails and commits
nothing, as for any other bad message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from multiverse import errors
from services.errors import to_status
from services.handlers import like

_CAUSE_CHARS = 200  # of the parser's own message, which echoes nothing of the input but may be long


class Undecodable:
    """A request message the method's deserializer refused: its size and the parser's reason."""

    __slots__ = ("size", "cause")

    def __init__(self, size: int, cause: str) -> None:
        self.size, self.cause = size, cause

    def refusal(self, method: str, type_name: str, position: str = "") -> errors.InvalidArgument:
        """The InvalidArgument for this message of a call to ``method`` (``position``: which one of a stream)."""
        where = f"{position} of the request stream to {method}" if position else f"the request to {method}"
        return errors.InvalidArgument(
            "request", f"{self.size} bytes", f"send a serialized {type_name}",
            reason=f"{where} is not a valid {type_name} ({errors.clip(self.cause, _CAUSE_CHARS)})")


def safe_deserializer(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``deserializer`` that returns ``Undecodable`` instead of raising."""

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001 - any parser failure is the client's bad bytes
            return Undecodable(len(data), f"{type(exc).__name__}: {exc}")

    return deserialize


def message_type(deserializer: Callable[[bytes], Any]) -> str:
    """The protobuf type a generated stub's deserializer (``SomeMessage.FromString``) parses, by full name."""
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", "") or "protobuf request message"


class DecodeInterceptor(grpc.ServerInterceptor):
    """Refuses request messages that do not parse with INVALID_ARGUMENT (see the module docstring)."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        """On grpc's polling thread: the call's handler, with a deserializer that never raises."""
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return decoding(handler, details.method)


def decoding(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """``handler`` with a deserializer that never raises and a behavior that refuses what it could not parse."""
    type_name = message_type(handler.request_deserializer)
    behaviors = {}
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behavior = getattr(handler, kind)
        if behavior is not None:
            wrap = _streamed if handler.request_streaming else _single
            behaviors[kind] = like(behavior, wrap(behavior, method, type_name))
    return handler._replace(request_deserializer=safe_deserializer(handler.request_deserializer), **behaviors)


def _single(behavior: Callable[..., Any], method: str, type_name: str) -> Callable[..., Any]:
    def refuse_undecodable(request: Any, context: grpc.ServicerContext, *callback: Any) -> Any:
        if isinstance(request, Undecodable):
            context.abort_with_status(to_status(request.refusal(method, type_name)))
        return behavior(request, context, *callback)

    return refuse_undecodable


def _streamed(behavior: Callable[..., Any], method: str, type_name: str) -> Callable[..., Any]:
    def refuse_undecodable(requests: Iterator[Any], context: grpc.ServicerContext, *callback: Any) -> Any:
        return behavior(_decoded(requests, method, type_name), context, *callback)

    return refuse_undecodable


def _decoded(requests: Iterator[Any], method: str, type_name: str) -> Iterator[Any]:
    """``requests``, raising errors.InvalidArgument at the first message that did not parse (the handler's
    boundary, services/errors.ErrorInterceptor, turns it into the status)."""
    for i, request in enumerate(requests, start=1):
        if isinstance(request, Undecodable):
            raise request.refusal(method, type_name, f"message {i}")
        yield request
