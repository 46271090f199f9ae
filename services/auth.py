"""Authentication at the edge: one interceptor decides who every call speaks for, from one table.

``ACCESS`` declares, by full method name (or by service, ``/package.Service/``), which principal kind each
method accepts: ``ANYONE`` (health, reflection, chain info and wallet sign-in), ``API_KEY`` (servers and
admins: the Store and Multiverse services, the market's payout address) or ``KEY_OR_WALLET`` (an API key or a
wallet session ``mvw_...`` from wallet sign-in, role "wallet": the rest of the Market service, and the Rarity
service's reads, which its proto opens to any valid key: a wallet reads as a public reader, so
``multiverse.rarity.visible.VisibleRarity`` shows it the public worlds only). A method the table does not name is
refused: a new method is closed until it is declared.

``AuthInterceptor`` authenticates before the handler runs, so before any JSON in the request is decoded, and
hands the Principal to the handler through a context variable that ``caller()`` reads. A refusal is the
domain's Unauthenticated, mapped to its status by ``services.errors.ErrorInterceptor`` like any other error.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from multiverse import errors
from multiverse.metadata.base import Metadata
from multiverse.store.auth import Keys, Principal
from services.handlers import wrap_behaviors

ANYONE, API_KEY, KEY_OR_WALLET = "anyone", "an API key", "an API key or a wallet session"

ACCESS: dict[str, str] = {
    "/multiverse.v1.Store/": API_KEY,
    "/multiverse.v1.Multiverse/": API_KEY,
    "/multiverse.v1.Admin/": API_KEY,  # the domain then refuses any key but an admin's (multiverse/store/prune.py)
    "/multiverse.v1.Rarity/": KEY_OR_WALLET,  # reads only (Score, TopRare, RarityOf, Neighbors, Stats, WatchRare)
    "/multiverse.v1.Market/": KEY_OR_WALLET,
    "/multiverse.v1.Market/SetPayoutAddress": API_KEY,  # payouts go to a server's principal, never a wallet's
    "/multiverse.v1.Market/GetChainInfo": ANYONE,
    "/multiverse.v1.Market/SignInNonce": ANYONE,
    "/multiverse.v1.Market/SignIn": ANYONE,
    "/grpc.health.v1.Health/": ANYONE,
    "/grpc.reflection.v1alpha.ServerReflection/": ANYONE,
    "/grpc.reflection.v1.ServerReflection/": ANYONE,
}

_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("multiverse_caller", default=None)


def access_of(method: str) -> str | None:
    """What ``method`` (``/package.Service/Method``) accepts: its own entry, else its service's; None if neither."""
    if method in ACCESS:
        return ACCESS[method]
    return ACCESS.get(method[: method.rfind("/") + 1]) if method.startswith("/") else None


def caller() -> Principal:
    """The Principal the current call speaks for, as ``AuthInterceptor`` authenticated it."""
    who = _CALLER.get()
    if who is None:  # a handler of an ANYONE method asked for a caller: a wiring mistake, not the client's
        raise RuntimeError("caller() outside an authenticated call: declare the method in services/auth.ACCESS")
    return who


def token_from(context: Any) -> str | None:
    """`authorization: Bearer <token>` or `x-api-key: <token>` from ``context.invocation_metadata()``."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
        if key == "x-api-key":
            return value.strip()
    return None


class Authenticator:
    """Who a token speaks for: ``meta`` checks API keys; ``sessions`` resolves wallet session tokens (absent
    when the market is off, and then such a token is just an unknown key)."""

    def __init__(self, meta: Metadata, sessions: Callable[[str], Principal] | None = None) -> None:
        self.meta = meta
        self.keys = Keys(meta)
        self.sessions = sessions

    def principal(self, token: str | None, access: str) -> Principal:
        """The Principal for ``token`` on a method that accepts ``access``; raises errors.Unauthenticated."""
        if access == KEY_OR_WALLET and self.sessions is not None and token and token.startswith("mvw_"):
            return self.sessions(token)
        return self.keys.principal(token)


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates every call by ``ACCESS`` before its handler runs (see the module docstring)."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        """On grpc's polling thread: the handler, run as the authenticated caller."""
        handler = continuation(details)
        if handler is None:
            return None
        method, access = details.method, access_of(details.method)
        if access == ANYONE:
            return handler
        auth = self.auth

        def authenticated(behavior: Callable[..., Any], streaming_response: bool) -> Callable[..., Any]:
            def run(request: Any, context: grpc.ServicerContext, *rest: Any) -> Any:
                if access is None:
                    raise errors.PermissionDenied(f"{method} is not open to any caller: the server does not "
                                                  "declare who may call it (services/auth.ACCESS)", method=method)
                who = auth.principal(token_from(context), access)
                reset = _CALLER.set(who)
                try:
                    result = behavior(request, context, *rest)
                finally:
                    _CALLER.reset(reset)
                return _AsCaller(result, who) if streaming_response else result

            return run

        return wrap_behaviors(handler, authenticated)


class _AsCaller:
    """A response iterator whose every step runs with ``caller()`` set (a generator handler's body runs on
    ``next``, after the behavior returned)."""

    def __init__(self, responses: Iterator[Any], who: Principal) -> None:
        self._responses, self._who = responses, who

    def __iter__(self) -> _AsCaller:
        return self

    def __next__(self) -> Any:
        reset = _CALLER.set(self._who)
        try:
            return next(self._responses)
        finally:
            _CALLER.reset(reset)

    def close(self) -> None:
        """Close the handler's generator at once (a watch unregisters itself on close)."""
        close = getattr(self._responses, "close", None)
        if close is not None:
            close()
