"""What the fuzzer sends and what it saw: one ``Case`` per input, one ``Outcome`` per answer. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STORE, MULTIVERSE, RARITY, MARKET = (f"/multiverse.v1.{s}/" for s in ("Store", "Multiverse", "Rarity", "Market"))
SAVE = STORE + "SaveSnapshot"
JSONRPC = "JSON-RPC POST"


@dataclass
class Ctx:
    """What a case may refer to, filled in at send time: keys, heads, stored snapshot ids, the wallet."""

    keys: dict[str, str] = field(default_factory=dict)  # admin | server | wallet -> token
    heads: dict[str, str] = field(default_factory=dict)  # world -> its main head ("" before the first save)
    snapshots: list[str] = field(default_factory=list)
    wallet_address: str = ""


@dataclass
class Case:
    """One input. gRPC: ``build(ctx)`` gives the raw request message(s) (a save's header needs the head at send
    time); ``kind`` is unary | server_stream | client_stream. JSON-RPC: ``body`` (and ``raw_http``: a whole
    request, for bad Content-Length headers)."""

    family: str
    method: str
    note: str
    kind: str = "unary"
    build: Callable[[Ctx], tuple[list[bytes], str]] | None = None  # (messages, what was mutated)
    auth: str = "server"  # admin | server | wallet | none | bogus
    body: bytes | None = None
    raw_http: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # what a reproduction needs (a state file)


@dataclass
class Outcome:
    """``code``: a gRPC status name, ``HTTP 200`` style, or ``CRASH``. ``bad_field``: the BadRequest field violation."""

    code: str
    detail: str = ""
    bad_field: str | None = None
    reason: str = ""  # google.rpc.ErrorInfo.reason: set when the server's own error mapping answered
    crashed: bool = False
    deserialize: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code in ("OK", "HTTP 200") and not self.extra.get("jsonrpc_error")
