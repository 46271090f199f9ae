"""The one place where domain errors become gRPC statuses.

Each MultiverseError class maps to one status code (``CODES``; tests/services/test_errors.py checks that
every class in the tree has an entry). The rich status carries google.rpc.ErrorInfo (reason = the class
name, metadata = the error's details such as ``current_head``) and, for bad input, google.rpc.BadRequest
with the field and the fix. Anything else is INTERNAL with a generic message; the cause goes to the log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from multiverse import errors

log = logging.getLogger("multiverse.services")

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
    code = code_for(exc)
    info = error_details_pb2.ErrorInfo(reason=type(exc).__name__, domain="multiverse", metadata=exc.details)
    details = [_pack(info)]
    if isinstance(exc, errors.InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if exc.retriable:
        details.append(_pack(error_details_pb2.RetryInfo()))
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=exc.message, details=details)
    return rpc_status.to_status(status)


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


F = TypeVar("F", bound=Callable[..., Any])


def translated(method: F) -> F:
    """Wrap a servicer method (unary or streaming) so that domain errors abort with their status."""

    def fail(context: grpc.ServicerContext, exc: BaseException) -> None:
        if isinstance(exc, errors.MultiverseError):
            context.abort_with_status(to_status(exc))
        if not context.is_active():  # the client went away mid-call: nothing to answer
            context.abort(grpc.StatusCode.CANCELLED, "the client cancelled the call")
        log.exception("internal error in %s", method.__qualname__)
        context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")

    if _is_generator(method):

        @functools.wraps(method)
        def stream(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            try:
                yield from method(self, request, context)
            except Exception as exc:  # noqa: BLE001 - this is the boundary
                fail(context, exc)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            fail(context, exc)

    return unary  # type: ignore[return-value]


def _is_generator(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.isgeneratorfunction(fn)
