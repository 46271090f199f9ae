"""Reads the API key from gRPC metadata and asks the domain who it speaks for."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from multiverse.metadata.base import Metadata
from multiverse.store.auth import Principal, authenticate


def token_from(context: grpc.ServicerContext) -> str | None:
    """`authorization: Bearer <token>` or `x-api-key: <token>`."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
        if key == "x-api-key":
            return value.strip()
    return None


class Authenticator:
    """``auth(context)``: API keys only (servers and admins: the Store and Multiverse services).
    ``auth.principal(context)``: an API key or a wallet session (``mvw_...``, from wallet sign-in), a distinct
    principal kind (role "wallet") that the Market service accepts; ``sessions`` resolves those tokens."""

    def __init__(self, meta: Metadata, sessions: Callable[[str], Principal] | None = None) -> None:
        self.meta = meta
        self.sessions = sessions

    def __call__(self, context: grpc.ServicerContext) -> Principal:
        return authenticate(self.meta, token_from(context))

    def principal(self, context: grpc.ServicerContext) -> Principal:
        token = token_from(context)
        if self.sessions is not None and token and token.startswith("mvw_"):
            return self.sessions(token)
        return authenticate(self.meta, token)
