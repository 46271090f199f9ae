"""The one place where domain errors become gRPC statuses.

Each MultiverseError class maps to one status code (``CODES``; tests/services/test_errors.py checks that
every class in the tree has an entry). The rich status carries google.rpc.ErrorInfo (reason = the class
name, metadata = the error's details such as ``current_head``) and, for bad input, google.rpc.BadRequest
with the field and the fix. ``ErrorInterceptor`` applies it to every method; anything else is INTERNAL with a
generic message, the cause in the log.

Errors echo caller input, and gRPC refuses trailers over its metadata cap (8 KiB by default; the client then sees
RESOURCE_EXHAUSTED instead of the error), so ``to_status`` bounds what it sends: the message to MAX_MESSAGE
UTF-8 bytes (start and end kept), each detail value to MAX_VALUE and the details to MAX_DETAILS altogether.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from multiverse import errors
from multiverse.crossing import ParameterError
from services.handlers import wrap_behaviors

log = logging.getLogger("multiverse.services")

MAX_MESSAGE = 768  # UTF-8 bytes; percent-encoded in the grpc-message trailer, so up to 3x that on the wire
MAX_VALUE = 160  # UTF-8 bytes of one ErrorInfo metadata value or a field name
MAX_DETAILS = 2048  # bytes of the serialized google.rpc.Status details, sent base64-encoded

CODES: dict[type[errors.MultiverseError], grpc.StatusCode] = {
    errors.MultiverseError: grpc.StatusCode.UNKNOWN,
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.HeadMoved: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Corrupt: grpc.StatusCode.DATA_LOSS,
}


def code_for(exc: errors.MultiverseError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in CODES:
            return CODES[cls]
    return grpc.StatusCode.UNKNOWN


def to_status(exc: errors.MultiverseError) -> grpc.Status:
    """The rich status for a domain error, bounded in size whatever the error echoes."""
    code = code_for(exc)
    message = _fit(exc.message, MAX_MESSAGE)
    facts = dict(exc.details)
    if isinstance(exc, errors.InvalidArgument):  # the client rebuilds the error from these (client.from_rpc_error)
        facts.setdefault("fix", exc.fix)
    metadata = {_fit(k, 64): _fit(v, MAX_VALUE) for k, v in list(facts.items())[:16]}
    info = error_details_pb2.ErrorInfo(reason=type(exc).__name__, domain="multiverse", metadata=metadata)
    details = [_pack(info)]
    if isinstance(exc, errors.InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(field=_fit(exc.field, MAX_VALUE), description=message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if exc.retriable:
        details.append(_pack(error_details_pb2.RetryInfo()))
    while sum(d.ByteSize() for d in details) > MAX_DETAILS and len(info.metadata) > 1:
        del info.metadata[max(info.metadata, key=lambda k: len(info.metadata[k]))]  # the largest fact goes first
        details[0] = _pack(info)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return rpc_status.to_status(status)


def _fit(text: str, limit: int) -> str:
    """``text`` clipped to at most ``limit`` UTF-8 bytes, keeping its start and end."""
    if len(text.encode("utf-8", "replace")) <= limit:
        return text
    chars = limit
    while len((clipped := errors.clip(text, chars)).encode("utf-8", "replace")) > limit:
        chars = chars * 3 // 4  # multi-byte characters: shrink until it fits
    return clipped


@contextlib.contextmanager
def wire_fields(**names: str) -> Iterator[None]:
    """Report a domain argument's InvalidArgument under its name on the wire: ``wire_fields(cursor="page_token")``."""
    try:
        yield
    except errors.InvalidArgument as exc:
        if exc.field in names:
            raise exc.renamed(names[exc.field]) from None
        raise


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps what a handler (or the authentication before it) raises to a status, once for every method: a domain
    error to its ``CODES`` status (merge_kernels' errors through the domain's translation, ``domain_error``),
    a call the client abandoned to CANCELLED, anything else to INTERNAL with the cause in the log."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        """On grpc's polling thread: the handler, with its errors mapped."""
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method
        return wrap_behaviors(handler, lambda behavior, streams: _mapped(behavior, streams, method))


def domain_error(exc: BaseException) -> errors.MultiverseError | None:
    """``exc`` as a domain error: itself, merge_kernels' ParameterError as the InvalidArgument it stands for
    (the parameter, its value and the fix), or None for anything else."""
    if isinstance(exc, errors.MultiverseError):
        return exc
    if isinstance(exc, ParameterError):
        return errors.InvalidArgument(exc.param, exc.value, exc.fix or f"use a value in {exc.allowed}",
                                      reason=f"{exc.param}={errors.clip(repr(exc.value), 80)} is outside {exc.allowed}")
    return None


def _mapped(behavior: Callable[..., Any], streams: bool, method: str) -> Callable[..., Any]:
    def fail(context: grpc.ServicerContext, exc: BaseException) -> None:
        domain = domain_error(exc)
        if domain is not None:
            context.abort_with_status(to_status(domain))
        if not context.is_active():  # the client went away mid-call: nothing to answer
            context.abort(grpc.StatusCode.CANCELLED, "the client cancelled the call")
        log.error("internal error in %s", method, exc_info=exc)
        context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")

    if streams:
        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from behavior(request, context)
            except Exception as exc:  # noqa: BLE001 - this is the boundary
                fail(context, exc)

        return stream

    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            fail(context, exc)

    return unary
