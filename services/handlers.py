"""Rewrapping a grpc method handler's behavior, shared by the interceptors that run code around a handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Wrap = Callable[[Callable[..., Any], bool], Callable[..., Any]]  # (behavior, response streams) -> new behavior


def wrap_behaviors(handler: grpc.RpcMethodHandler, wrap: Wrap) -> grpc.RpcMethodHandler:
    """``handler`` with each of its behaviors replaced by ``wrap(behavior, handler.response_streaming)``, keeping
    its (de)serializers and the attributes grpc reads off a behavior. A non-blocking behavior (grpc's health
    Watch: it answers through a callback and returns at once) is left as it is: there is nothing to wrap."""
    behaviors = {}
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behavior = getattr(handler, kind)
        if behavior is not None and not getattr(behavior, "experimental_non_blocking", False):
            behaviors[kind] = like(behavior, wrap(behavior, handler.response_streaming))
    return handler._replace(**behaviors)


def like(behavior: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """``wrapper`` carrying the attributes grpc reads off a behavior (its thread pool, non-blocking kind)."""
    for name in ("experimental_thread_pool", "experimental_non_blocking"):
        if hasattr(behavior, name):
            setattr(wrapper, name, getattr(behavior, name))
    return wrapper
