"""API keys: minting, hashing and checking. The secret is shown once and only its sha256 is stored.

A token reads ``mvk_<key id>_<secret>``: the key id finds the record, the secret is compared in constant time
against the stored hash. Secrets are 32 random bytes, so a plain sha256 (no slow KDF) is enough. ``Keys`` keeps a
checked token's principal for KEY_KEPT_S seconds (a game server calls several times a second; each check is a
metadata read): a key revoked in the metadata stops working within that.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from multiverse.errors import NotFound, Unauthenticated
from multiverse.kept import Kept
from multiverse.metadata.base import Metadata
from multiverse.records import PUBLIC, ROLE_ADMIN, ROLE_SERVER, SHARED, ApiKeyRecord, WorldRecord

PREFIX = "mvk"
KEY_KEPT_S = 1.0
KEYS_KEPT = 4096


@dataclass(frozen=True)
class Principal:
    """Who a call speaks for."""

    name: str
    role: str
    key_id: str = ""

    @property
    def admin(self) -> bool:
        return self.role == ROLE_ADMIN


def can_read(who: Principal, world: WorldRecord) -> bool:
    """Whether ``who`` may read ``world`` (its records, states, heads and rarity): an admin or the owner always; any
    other key when the world is public, or when it is shared with the key's principal by name. Names match only
    for API keys (a wallet session's name is an address, which a server could also be called). The same rule in
    SQL: metadata/_worlds.py."""
    keyed = who.role == ROLE_SERVER
    return (can_manage(who, world) or world.visibility == PUBLIC
            or (keyed and world.visibility == SHARED and who.name in world.readers))


def can_manage(who: Principal, world: WorldRecord) -> bool:
    """Whether ``who`` may set ``world``'s visibility and see its share list: an admin, or the owner's key."""
    return who.admin or (who.role == ROLE_SERVER and world.owner == who.name)


def reader_name(who: Principal) -> str | None:
    """``can_read`` as the metadata's SQL filter takes it: None for an admin (every world), the principal's name
    for a server key (its own, shared and public worlds), "" for any other caller (public worlds only)."""
    if who.admin:
        return None
    return who.name if who.role == ROLE_SERVER else ""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint_key(meta: Metadata, principal: str, role: str, *, now: float | None = None) -> tuple[ApiKeyRecord, str]:
    """Create and store a key; returns the record and the token (the only time the secret exists)."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = ApiKeyRecord(key_id, principal, role, _hash(secret), time.time() if now is None else now)
    meta.add_key(record)
    return record, f"{PREFIX}_{key_id}_{secret}"


def authenticate(meta: Metadata, token: str | None) -> Principal:
    """The principal a token speaks for, or Unauthenticated (the message never echoes the secret)."""
    fix = "send the API key as metadata 'authorization: Bearer mvk_...' (make run prints the admin key once and writes <data dir>/admin.key)"
    if not token:
        raise Unauthenticated(f"no API key: {fix}")
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise Unauthenticated(f"the API key is malformed: {fix}")
    try:
        record = meta.get_key(parts[1])
    except NotFound:
        raise Unauthenticated(f"unknown API key id {parts[1]!r}: {fix}") from None
    if record.revoked or not hmac.compare_digest(record.secret_hash, _hash(parts[2])):
        raise Unauthenticated(f"API key {parts[1]!r} is revoked or its secret is wrong: {fix}")
    return Principal(record.principal, record.role, record.id)


class Keys:
    """``authenticate`` with the principal of each token that passed kept for ``kept_s`` seconds, under the token's
    sha256 (the secret is not kept); a refused token is checked again every time."""

    def __init__(self, meta: Metadata, kept_s: float = KEY_KEPT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.meta, self.kept_s, self.clock = meta, kept_s, clock
        self._kept: Kept[bytes, tuple[Principal, float]] = Kept(KEYS_KEPT)

    def principal(self, token: str | None) -> Principal:
        key = hashlib.sha256(token.encode()).digest() if token else b""
        now = self.clock()
        hit = self._kept.get(key)
        if hit is not None and now < hit[1]:
            return hit[0]
        who = authenticate(self.meta, token)
        self._kept.put(key, (who, now + self.kept_s))
        return who


def ensure_admin_key(meta: Metadata, data_dir: Path) -> str | None:
    """On first start (no admin key yet): mint one, write it to <data dir>/admin.key (mode 0600) and return
    the token so the caller prints it once. Later starts return None."""
    if meta.count_keys(ROLE_ADMIN):
        return None
    _, token = mint_key(meta, "admin", ROLE_ADMIN)
    path = data_dir / "admin.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token
