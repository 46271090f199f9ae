"""Wallet sign-in with EIP-4361 ("Sign-In with Ethereum", the ``siwe`` package) and the sessions it yields.

    nonce = signin.nonce()                         # single use, stored server-side, expires
    token, session = signin.sign_in(message, sig)  # token: mvw_<id>_<secret>, shown once
    principal = signin.authenticate(token)         # Principal(name=<address>, role="wallet")

A message is accepted when its domain and URI are this service's, its chain id is this chain's, it is inside
its not-before / expiration window, the signature recovers to its address, and its nonce was issued here and
never used (the nonce is spent by the first attempt, whatever the outcome). Sessions store the secret's sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from multiverse.auth import Principal
from multiverse.errors import InvalidArgument, Unauthenticated

from .db import MarketDb

ROLE_WALLET = "wallet"
PREFIX = "mvw"


@dataclass(frozen=True)
class SignInConfig:
    """``domain``: the host (and port) wallets see, e.g. ``gallery.example:443``; ``uri``: the URI messages must
    name (a prefix match: ``https://gallery.example`` accepts ``https://gallery.example/login``)."""

    domain: str = "localhost"
    uri: str = "http://localhost"
    nonce_ttl_s: float = 600.0
    session_ttl_s: float = 86_400.0


@dataclass(frozen=True)
class Session:
    id: str
    address: str
    chain_id: int
    expires_at: float


class SignIn:
    def __init__(
        self,
        db: MarketDb,
        chain_id: int,
        config: SignInConfig = SignInConfig(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.chain_id, self.config, self.clock = db, chain_id, config, clock

    def nonce(self) -> str:
        """A fresh nonce (alphanumeric, as EIP-4361 requires) for the wallet to put in its message."""
        value = secrets.token_hex(16)
        now = self.clock()
        self.db.add_nonce(value, now, now + self.config.nonce_ttl_s)
        return value

    def sign_in(self, message: str, signature: str) -> tuple[str, Session]:
        """Check a signed EIP-4361 message; returns (session token, session)."""
        from siwe import SiweMessage, VerificationError

        if not isinstance(message, str) or not message or len(message) > 4096:
            raise InvalidArgument(
                "message",
                message,
                "send the EIP-4361 message text the wallet signed (at most 4096 characters)",
            )
        try:
            parsed = SiweMessage.from_message(message)
        except Exception as exc:  # noqa: BLE001  # the parser raises several kinds for a malformed message
            raise InvalidArgument(
                "message", message, f"send an EIP-4361 message ({type(exc).__name__}: {exc})"
            ) from None
        c = self.config
        if parsed.domain != c.domain:
            raise Unauthenticated(
                f"the message is for domain {parsed.domain!r}, not {c.domain!r}: sign in from this site"
            )
        if not str(parsed.uri).startswith(c.uri):
            raise Unauthenticated(
                f"the message names URI {parsed.uri!r}, not one under {c.uri!r}: sign in from this site"
            )
        if int(parsed.chain_id) != self.chain_id:
            raise Unauthenticated(
                f"the message is for chain {parsed.chain_id}, this service is on chain {self.chain_id}: switch the wallet's network"
            )
        now = self.clock()
        if not self.db.use_nonce(parsed.nonce, now):
            raise Unauthenticated(
                f"nonce {parsed.nonce!r} was not issued here, was used already or expired: ask for a new nonce"
            )
        try:
            parsed.verify(
                signature, domain=c.domain, nonce=parsed.nonce, timestamp=datetime.fromtimestamp(now, UTC)
            )
        except VerificationError as exc:
            raise Unauthenticated(
                f"the sign-in message was refused ({type(exc).__name__}): check its expiry and not-before, and sign it again with a new nonce"
            ) from None
        except ValueError as exc:
            raise InvalidArgument(
                "signature", signature, f"send the wallet's 65-byte personal_sign signature as 0x hex ({exc})"
            ) from None
        expires = now + c.session_ttl_s
        if parsed.expiration_time is not None:
            expires = min(expires, parsed.expiration_time._datetime.timestamp())
        session_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        self.db.add_session(session_id, parsed.address, self.chain_id, _hash(secret), now, expires)
        return f"{PREFIX}_{session_id}_{secret}", Session(session_id, parsed.address, self.chain_id, expires)

    def authenticate(self, token: str) -> Principal:
        """The wallet a session token speaks for, or Unauthenticated (the message never echoes the secret)."""
        fix = "sign in with your wallet (SignInNonce, then SignIn) and send 'authorization: Bearer mvw_...'"
        parts = token.split("_", 2) if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise Unauthenticated(f"the wallet session token is malformed: {fix}")
        row = self.db.get_session(parts[1])
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(parts[2])):
            raise Unauthenticated(f"unknown wallet session {parts[1]!r} or wrong secret: {fix}")
        if row["expires_at"] <= self.clock():
            raise Unauthenticated(f"wallet session {parts[1]!r} expired: {fix}")
        return Principal(row["address"], ROLE_WALLET, parts[1])


def is_session_token(token: str | None) -> bool:
    return bool(token) and token.startswith(PREFIX + "_")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
