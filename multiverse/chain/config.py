"""Chain configuration: one frozen object, built once at the edge (``multiverse.config``, from the
``MULTIVERSE_CHAIN_*`` rows of ``multiverse.options``). The minter key is wrapped so that printing,
logging or repr-ing the configuration never shows it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import is_address

from multiverse.errors import InvalidArgument

from .artifacts import DEFAULT_ARTIFACTS

_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
KINDS = ("memory", "rpc")


class Secret:
    """A string that does not show itself: ``repr``/``str`` print ``Secret(***)``; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # never pickled into a file or a queue by accident
        raise TypeError("a Secret cannot be pickled")


def minter_key(value: str | Secret) -> Secret:
    """Validate a private key (64 hex digits, optional 0x) without ever echoing it."""
    raw = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(raw, str) or not _KEY.match(raw.strip()):
        raise InvalidArgument(
            "minter_key",
            "(hidden)",
            "give the minter's private key as 64 hex digits, with or without 0x",
            reason="minter_key is not a private key",
        )
    raw = raw.strip()
    return Secret(raw if raw.startswith("0x") else "0x" + raw)


@dataclass(frozen=True)
class ChainConfig:
    """``kind``: ``memory`` (in-process EVM; contracts deployed at start-up) or ``rpc`` (``rpc_url``).

    ``minter_key``: signs every transaction; required for ``rpc``; for ``memory`` a fresh funded key is made when
    it is absent (kept in ``data_dir`` when that is set). ``data_dir``: where the in-process chain is kept on disk
    (the App sets <data>/chain). ``token``/``exchange``: attach to these addresses instead of deploying. ``chain_id``: when set,
    the node must report it (a guard against pointing at the wrong network). ``admin``: the address that gets the
    token's admin role when deploying (it appoints minters and sets the URIs); never the minter's. Required to deploy
    on ``rpc``; ``memory`` makes an admin key when it is absent (kept in ``data_dir`` as token-admin.key).
    """

    kind: str = "memory"
    rpc_url: str = ""
    minter_key: Secret | None = field(default=None, repr=False)
    chain_id: int | None = None
    token: str | None = None
    exchange: str | None = None
    from_block: int = 0  # the deployment block of attached contracts, where log scans start
    royalty_bps: int = 500
    base_uri: str = ""
    contract_uri: str = ""
    admin: str | None = None
    timeout_s: float = 30.0
    artifacts_dir: Path = DEFAULT_ARTIFACTS
    data_dir: Path | None = None  # memory only: keep the chain here (durable across restarts); None: in memory

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgument("chain.kind", self.kind, f"use one of {', '.join(KINDS)}")
        if self.kind == "rpc" and not self.rpc_url:
            raise InvalidArgument("chain.rpc_url", self.rpc_url, "give the node's JSON-RPC URL, e.g. http://127.0.0.1:8545")
        if self.kind == "rpc" and self.minter_key is None:
            raise InvalidArgument("chain.minter_key", None, "an rpc chain needs the minter's private key to sign with")
        if self.minter_key is not None and not isinstance(self.minter_key, Secret):
            object.__setattr__(self, "minter_key", minter_key(self.minter_key))
        if (self.token is None) != (self.exchange is None):
            raise InvalidArgument(
                "chain.token/chain.exchange", (self.token, self.exchange), "give both addresses to attach, or neither to deploy"
            )
        if self.admin is not None and not (isinstance(self.admin, str) and is_address(self.admin)):
            raise InvalidArgument("chain.admin", self.admin, "give the admin's 0x-prefixed 20-byte address")
        if not 0 <= self.royalty_bps <= 10_000:
            raise InvalidArgument("chain.royalty_bps", self.royalty_bps, "use basis points between 0 and 10000")
        if self.timeout_s <= 0:
            raise InvalidArgument("chain.timeout_s", self.timeout_s, "use a positive number of seconds")
