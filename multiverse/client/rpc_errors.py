"""Failed calls back into the domain's errors: the class the server raised, with its fields.

The server (services/errors.py) sends every domain error as a rich status: google.rpc.ErrorInfo whose reason is
the error's class name (domain "multiverse") and whose metadata are its details, BadRequest with the field of
bad input. ``from_rpc_error`` rebuilds an instance of that class; tests/services/test_error_mapping.py checks it
for every class of both error trees.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from multiverse import errors

_CLASSES = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.CANCELLED: errors.Cancelled,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.DATA_LOSS: errors.Corrupt,
}


def from_rpc_error(exc: grpc.RpcError) -> errors.MultiverseError:
    """The domain error a failed call stands for: the class the server raised (ErrorInfo's reason names it) with
    its message and details, ``InvalidArgument`` with ``.field``, ``.value`` (as the server showed it) and ``.fix``,
    ``HeadMoved`` with ``.current``. A status without our ErrorInfo (grpc's own: a deadline, an unknown method)
    becomes the class of its code. ``.code`` is the status code in every case."""
    code, message = exc.code(), exc.details() or ""
    info, field = None, None
    try:
        status = rpc_status.from_call(exc) if hasattr(exc, "trailing_metadata") else None
    except ValueError:  # a status whose details disagree with its code or message: use the code alone
        status = None
    for packed in status.details if status else ():
        if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            packed.Unpack(info)
        elif packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            packed.Unpack(bad)
            field = bad.field_violations[0].field if bad.field_violations else None
    known = info is not None and info.domain == "multiverse"
    cls = _BY_REASON.get(info.reason) if known else None
    err = _rebuild(cls or _CLASSES.get(code, errors.MultiverseError), message, dict(info.metadata) if known else {},
                   field)
    err.code = code  # type: ignore[attr-defined]
    return err


_BY_REASON: dict[str, type[errors.MultiverseError]] = {
    cls.__name__: cls for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.MultiverseError)
}


def _rebuild(cls: type[errors.MultiverseError], message: str, details: dict[str, str],
             field: str | None) -> errors.MultiverseError:
    """An instance of ``cls`` as the server raised it. The message is the server's, verbatim: constructors that
    compose a message from their arguments are bypassed, their attributes set from the details."""
    if issubclass(cls, errors.HeadMoved):
        return cls(details.get("world", ""), details.get("head", ""), details.get("expected_parent") or None,
                   details.get("current_head") or None)
    err = cls.__new__(cls)
    errors.MultiverseError.__init__(err, message, **details)
    if isinstance(err, errors.InvalidArgument):
        fix = details.get("fix", "")
        err.field = field or details.get("field", "")
        err.value = details.get("value", "")
        err.fix = fix
        what = message[: -len(fix) - 2] if fix and message.endswith(f": {fix}") else None
        err.reason = None if what == f"{err.field}={err.value} is not valid" else what  # the constructor's default
        err.details.pop("fix", None)
    return err
