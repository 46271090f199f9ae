"""Configuration: one typed, frozen object built once at the edge (CLI flags and environment).

Nothing here reads the environment at import time; ``Settings.from_env`` is called by the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multiverse.state.limits import GiB, MiB, Limits
from multiverse.tlsconfig import ServerTls

if TYPE_CHECKING:  # types only: importing the market here would load the chain's stack with the config
    from multiverse.market.wiring import MarketSettings
    from multiverse.rarity.types import RarityConfig


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    grpc_addr: str = "127.0.0.1:50051"
    db_url: str = ""  # empty: SQLite file in data_dir
    blob_url: str = ""  # empty: a directory in data_dir; or s3://bucket/prefix?endpoint=host:port
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    # Concurrency (services/limits.py): worker threads, which are also the cap on calls served at once (health
    # checks and refusals have threads of their own); streaming calls (saves, loads, watches) on the whole
    # server (0: half the workers) and per API key (callers without a key share one budget).
    workers: int = 32
    max_streams: int = 0
    max_streams_per_key: int = 4
    stream_idle_s: float = 60.0  # a stream whose client sends or takes no message for this long is cut
    watch_idle_s: float = 300.0  # WatchRare ends (OK, with a reason) after this long without a message,
    watch_max_s: float = 3600.0  # and after this long in any case; clients call again
    limits: Limits = Limits()
    # The chain and market; None: no chain, no Market service.
    market: MarketSettings | None = None
    # How rarity is computed; None: its defaults.
    rarity: RarityConfig | None = None
    # TLS on the gRPC and HTTP ports (certificate, key, optional client CA for mutual TLS); None: plaintext.
    tls: ServerTls | None = None

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'multiverse.db').resolve()}"

    @property
    def blobs_url(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from MULTIVERSE_* variables, then explicit overrides (flags) on top."""
        env = dict(os.environ if env is None else env)
        base = cls(
            data_dir=Path(env.get("MULTIVERSE_DATA", "data")),
            grpc_addr=env.get("MULTIVERSE_LISTEN", "127.0.0.1:50051"),
            db_url=env.get("MULTIVERSE_DB", ""),
            blob_url=env.get("MULTIVERSE_BLOBS", ""),
            s3_access_key=env.get("MULTIVERSE_S3_ACCESS_KEY", ""),
            s3_secret_key=env.get("MULTIVERSE_S3_SECRET_KEY", ""),
            limits=Limits(max_state_bytes=int(env.get("MULTIVERSE_MAX_STATE_BYTES", GiB)),
                          max_header_bytes=int(env.get("MULTIVERSE_MAX_HEADER_BYTES", 8 * MiB))),
            market=None if env.get("MULTIVERSE_MARKET", "on") == "off" else _market_settings(env),
            **_concurrency(env),
            rarity=_rarity_config(env),
            tls=server_tls(env.get("MULTIVERSE_TLS_CERT"), env.get("MULTIVERSE_TLS_KEY"),
                           env.get("MULTIVERSE_TLS_CLIENT_CA")),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def server_tls(cert: str | None, key: str | None, client_ca: str | None = None) -> ServerTls | None:
    """The server's TLS material from the given PEM paths (``--tls-cert``/``MULTIVERSE_TLS_CERT`` and so on);
    None when neither certificate nor key is given; a clear error when only one is, or a client CA alone."""
    from multiverse.errors import InvalidArgument

    if not cert and not key:
        if client_ca:
            raise InvalidArgument("tls_client_ca", client_ca, "mutual TLS needs TLS: give --tls-cert and --tls-key too")
        return None
    if not (cert and key):
        raise InvalidArgument("tls_key" if cert else "tls_cert", "(missing)",
                              "give both the certificate (--tls-cert) and its key (--tls-key)")
    return ServerTls.from_files(cert, key, client_ca or None)


def _rarity_config(env: dict[str, str]) -> RarityConfig | None:
    """The rarity config with ``MULTIVERSE_RARITY_EXACT_LIMIT`` (points a space's index holds exactly before it
    turns IVF) when that is set, else None (the defaults); imported here only, to keep this module light."""
    limit = env.get("MULTIVERSE_RARITY_EXACT_LIMIT", "")
    if not limit:
        return None
    from multiverse.errors import InvalidArgument
    from multiverse.rarity import IndexSettings, RarityConfig

    if not limit.isdigit():
        raise InvalidArgument("MULTIVERSE_RARITY_EXACT_LIMIT", limit, "set a positive whole number, e.g. 100000")
    return RarityConfig(index=IndexSettings(exact_limit=int(limit)))


_CONCURRENCY = {"workers": int, "max_streams": int, "max_streams_per_key": int, "stream_idle_s": float,
                "watch_idle_s": float, "watch_max_s": float}


def _concurrency(env: dict[str, str]) -> dict[str, Any]:
    """The concurrency settings given as MULTIVERSE_WORKERS, MULTIVERSE_MAX_STREAMS, ... (each field in capitals)."""
    found: dict[str, Any] = {}
    for name, kind in _CONCURRENCY.items():
        raw = env.get(f"MULTIVERSE_{name.upper()}", "")
        if not raw:
            continue
        try:
            found[name] = kind(raw)
        except ValueError:
            from multiverse.errors import InvalidArgument

            raise InvalidArgument(f"MULTIVERSE_{name.upper()}", raw, f"set a number ({kind.__name__})") from None
    return found


def _market_settings(env: dict[str, str]) -> MarketSettings:
    """The market's settings (in-process EVM by default); imported here only, to keep this module light."""
    from multiverse.market.wiring import MarketSettings

    return MarketSettings.from_env(env)
