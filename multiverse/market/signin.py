"""Wallet sign-in with EIP-4361 ("Sign-In with Ethereum", the ``siwe`` package) and the sessions it yields.

    nonce = signin.nonce()                         # single use, stored server-side, expires
    token, session = signin.sign_in(message, sig)  # token: mvw_<id>_<secret>, shown once
    principal = signin.authenticate(token)         # Principal(name=<address>, role="wallet")

A message is accepted when its domain is this service's, its URI has this service's exact origin (scheme, host
and port; under the configured path, if it has one), its chain id is this chain's, it is inside its not-before /
expiration window, the signature recovers to its address, and its nonce was issued here, is unexpired and was
never used (the nonce is spent by the first attempt, whatever the outcome). Sessions store the secret's sha256.

Nonces cost a row each until used or expired (expired and used ones are dropped as new ones are issued), so the
outstanding ones are limited, per client and in all: past a limit, ``nonce`` refuses with ResourceExhausted
(retriable: nonces expire within ``nonce_ttl_s``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from multiverse.errors import InvalidArgument, ResourceExhausted, Unauthenticated
from multiverse.store.auth import Principal

from .db import MarketDb

ROLE_WALLET = "wallet"
PREFIX = "mvw"
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(uri: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URI without user info; None for anything else."""
    try:
        parts = urlsplit(uri)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except (ValueError, AttributeError):  # a port out of range or not a number; not a string
        return None
    if scheme not in DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme], parts.path.rstrip("/")


def _within(uri: str, base: str) -> bool:
    """Whether ``uri`` has ``base``'s origin and lies under its path (segment by segment)."""
    got, want = _origin(uri), _origin(base)
    if got is None or want is None or got[:3] != want[:3]:
        return False
    return not want[3] or got[3] == want[3] or got[3].startswith(want[3] + "/")


@dataclass(frozen=True)
class SignInConfig:
    """``domain``: the host (and port) wallets see, e.g. ``gallery.example:443``; ``uri``: the http(s) URI messages
    must name: the same origin (``https://gallery.example`` accepts ``https://gallery.example/login``, not
    ``https://gallery.example.evil.test/``), and under its path if it has one; ``max_nonces`` /
    ``max_nonces_per_client``: how many issued nonces may be outstanding (unused, unexpired) in all / per client."""

    domain: str = "localhost"
    uri: str = "http://localhost"
    nonce_ttl_s: float = 600.0
    session_ttl_s: float = 86_400.0
    max_nonces: int = 10_000
    max_nonces_per_client: int = 32

    def __post_init__(self) -> None:
        if _origin(self.uri) is None:
            raise InvalidArgument(
                "market.signin.uri", self.uri, "give the site's http(s) URI, e.g. https://gallery.example"
            )
        for name in ("nonce_ttl_s", "session_ttl_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 365 * 86_400:
                raise InvalidArgument(f"market.signin.{name}", value, "give seconds, 0 < s <= a year")
        for name in ("max_nonces", "max_nonces_per_client"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(f"market.signin.{name}", value, "give a whole number of nonces, at least 1")


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

    def nonce(self, client: str = "") -> str:
        """A fresh nonce (alphanumeric, as EIP-4361 requires) for the wallet to put in its message; ``client``:
        who asks (its network address), limited to ``max_nonces_per_client`` outstanding nonces."""
        value, c = secrets.token_hex(16), self.config
        now = self.clock()
        client = str(client)[:64]
        full = self.db.add_nonce(
            value, now, now + c.nonce_ttl_s, client, max_total=c.max_nonces, max_client=c.max_nonces_per_client
        )
        if full:
            held = f"{c.max_nonces_per_client} from {client or 'this client'}" if full == "client" else f"{c.max_nonces}"
            raise ResourceExhausted(
                f"{held} sign-in nonces are outstanding, the most allowed: use one of them to sign in, or retry "
                f"once some expire (they live {c.nonce_ttl_s:g} s)",
                limit=full,
            )
        return value

    def sign_in(self, message: str, signature: str) -> tuple[str, Session]:
        """Check a signed EIP-4361 message; returns (session token, session)."""
        from eth_keys.exceptions import BadSignature
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
        if not _within(str(parsed.uri), c.uri):
            raise Unauthenticated(
                f"the message names URI {parsed.uri!r}, not one of origin {c.uri!r}: sign in from this site"
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
        except (ValueError, BadSignature) as exc:  # BadSignature: 65 bytes from which no key recovers
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
