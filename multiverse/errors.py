"""The one error tree of Multiverse. Every error the domain raises is one of these.

    MultiverseError
    ├── InvalidArgument      bad input: names the field, the value and the fix   -> INVALID_ARGUMENT
    ├── NotFound             no such space, world, snapshot, key or blob           -> NOT_FOUND
    ├── AlreadyExists        a name taken by something different                  -> ALREADY_EXISTS
    ├── FailedPrecondition   the request is fine but the state forbids it          -> FAILED_PRECONDITION
    │   └── HeadMoved        compare-and-swap lost: carries the current head
    ├── Unauthenticated      missing or unknown credentials                        -> UNAUTHENTICATED
    ├── PermissionDenied     known caller, not allowed                             -> PERMISSION_DENIED
    ├── Cancelled            the caller went away                                  -> CANCELLED
    ├── Unavailable          a backend (database, blob store, chain) is down       -> UNAVAILABLE (retriable)
    ├── ResourceExhausted    a server limit (calls, streams) is reached            -> RESOURCE_EXHAUSTED (retriable)
    └── Corrupt              stored bytes do not match their hash                  -> DATA_LOSS

Services translate them to wire statuses in exactly one place (services/errors.py); the domain never
imports gRPC. ``details`` carries machine-readable facts (for example the current head) that the
boundary puts into the rich status.
"""

from __future__ import annotations

import reprlib
from typing import Any

MAX_DETAIL = 256  # characters of one detail value: errors echo caller input, and status details have a size cap


class MultiverseError(Exception):
    """Base of every domain error. ``retriable`` says whether the same call may succeed later."""

    retriable = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = {k: clip(str(v), MAX_DETAIL) for k, v in details.items() if v is not None}


class InvalidArgument(MultiverseError):
    """Bad input. The message names the field, the value and the fix."""

    def __init__(self, field: str, value: Any, fix: str, *, reason: str | None = None) -> None:
        shown = _show(value)
        what = reason or f"{field}={shown} is not valid"
        super().__init__(f"{what}: {fix}", field=field, value=shown)
        self.field = field
        self.value = value
        self.fix = fix
        self.reason = reason

    def renamed(self, field: str) -> InvalidArgument:
        """The same error under the field name the caller used (the wire's name for a domain argument)."""
        return InvalidArgument(field, self.value, self.fix, reason=self.reason)


class NotFound(MultiverseError):
    pass


class AlreadyExists(MultiverseError):
    pass


class FailedPrecondition(MultiverseError):
    pass


class HeadMoved(FailedPrecondition):
    """A save named an expected parent that is not the head any more."""

    def __init__(self, world: str, head: str, expected: str | None, current: str | None) -> None:
        super().__init__(
            f"head {world}@{head} is {current or '(empty)'} but the save expected {expected or '(empty)'}: "
            "load the current head, rebase onto it and save again with expected_parent set to it",
            world=world,
            head=head,
            expected_parent=expected or "",
            current_head=current or "",
        )
        self.current = current


class Unauthenticated(MultiverseError):
    pass


class PermissionDenied(MultiverseError):
    pass


class Cancelled(MultiverseError):
    pass


class Unavailable(MultiverseError):
    retriable = True


class ResourceExhausted(MultiverseError):
    """A limit of the server (concurrent calls, streams) is reached; the call may succeed once others end."""

    retriable = True


class Corrupt(MultiverseError):
    pass


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, keeping its start and its end (where a fix usually is)."""
    if len(text) <= limit:
        return text
    if limit < 16:
        return text[:limit]
    head = (limit - 5) * 2 // 3
    return f"{text[:head]} ... {text[len(text) - (limit - 5 - head):]}"


class _Repr(reprlib.Repr):
    """reprlib with every container and string bounded; huge integers shown by their size (their repr would
    raise ValueError past 4,300 digits)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, 80, 80, 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 6

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_REPR = _Repr()


def _show(value: Any, limit: int = 80) -> str:
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value's own __repr__ failing must not hide the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
