"""Reads the API key from gRPC metadata and asks the domain who it speaks for."""

from __future__ import annotations

import grpc

from multiverse.auth import Principal, authenticate
from multiverse.metadata.base import Metadata


def token_from(context: grpc.ServicerContext) -> str | None:
    """`authorization: Bearer <token>` or `x-api-key: <token>`."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
        if key == "x-api-key":
            return value.strip()
    return None


class Authenticator:
    def __init__(self, meta: Metadata) -> None:
        self.meta = meta

    def __call__(self, context: grpc.ServicerContext) -> Principal:
        return authenticate(self.meta, token_from(context))
