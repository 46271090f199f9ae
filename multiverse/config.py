"""Configuration: one typed, frozen object built once at the edge (CLI flags and environment).

Nothing here reads the environment at import time; ``Settings.from_env`` is called by the CLI. Each setting's
variable, flag and help are one row of ``multiverse.options.OPTIONS``; its type and default are its field's here
(or in the nested settings' dataclasses), so each is spelled once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from multiverse import options

from multiverse.state.limits import Limits
from multiverse.tlsconfig import ServerTls

if TYPE_CHECKING:  # imported where built: the market's settings load the chain's stack, heavy for a client command
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
    # merge_kernels' fused CPU loops (numba); off: the eager torch kernels only (App.open applies it)
    fused: bool = True
    # The HTTP gateway (gallery, JSON API, pictures, token metadata): where `up` serves it ("": not served), the
    # token bucket of public reads per client address (requests per second, burst), live feeds open at once.
    http_listen: str = "127.0.0.1:8080"
    http_rate: float = 20.0
    http_burst: int = 60
    http_max_feeds: int = 64
    # What this process serves (`multiverse serve --services`): any of options.SERVICES; `up` serves them all.
    services: tuple[str, ...] = options.SERVICES

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
    def from_env(cls, env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None,
                 **overrides: object) -> Settings:
        """Settings from MULTIVERSE_* variables (``env``, default ``os.environ``), with the flags (``flags``:
        argparse's namespace as a dict, by each option's dest) over them, then explicit field overrides. Every
        variable and flag is a row of ``multiverse.options.OPTIONS``."""
        given = options.read(os.environ if env is None else env, flags)
        base = build(given)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class ClientSettings:
    """How the client commands reach the service (``client.*`` rows of ``multiverse.options``)."""

    grpc: str = "localhost:50051"
    key: str = field(default="", repr=False)
    tls_ca: str = ""
    tls_client_cert: str = ""
    tls_client_key: str = ""
    wallet_key: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
                 ) -> ClientSettings:
        """The client's settings from ``MULTIVERSE_GRPC``, ``MULTIVERSE_KEY``, ``MULTIVERSE_TLS_*`` and their flags."""
        given = options.read(os.environ if env is None else env, flags, only=("client.",))
        return cls(**{k.split(".", 1)[1]: v for k, v in given.items() if k.startswith("client.")})


def settings_classes() -> dict[str, type]:
    """The dataclass behind each section of Settings (``""``: Settings itself), for defaults and building."""
    from multiverse.chain.config import ChainConfig
    from multiverse.market.market import MarketConfig
    from multiverse.market.signin import SignInConfig
    from multiverse.market.wiring import MarketSettings
    from multiverse.rarity.index import IndexSettings
    from multiverse.rarity.types import RarityConfig

    return {"": Settings, "limits": Limits, "rarity": RarityConfig, "rarity.index": IndexSettings,
            "market": MarketSettings, "market.market": MarketConfig, "market.market.signin": SignInConfig,
            "market.chain": ChainConfig, "client": ClientSettings}


def build(given: Mapping[str, object]) -> Settings:
    """Settings from ``{path: value}`` (``multiverse.options.read``): each section is built from its own rows,
    the rest left at the dataclasses' defaults."""
    def section(prefix: str) -> dict[str, object]:
        depth = prefix.count(".") + 1 if prefix else 0
        return {k.split(".")[depth]: v for k, v in given.items()
                if (k.startswith(prefix + ".") if prefix else True) and k.count(".") == depth}

    top = {k: v for k, v in section("").items() if k not in ("market",)}
    limits = section("limits")
    tls = section("tls")
    return Settings(
        **top,  # type: ignore[arg-type]  # each value parsed by its row to its field's type
        limits=Limits(**limits) if limits else Limits(),  # type: ignore[arg-type]
        tls=server_tls(*(str(tls[k]) if tls.get(k) else None for k in ("cert", "key", "client_ca"))),
        rarity=_rarity(given),
        market=_market(given) if given.get("market", True) else None,
    )


def _rarity(given: Mapping[str, object]) -> RarityConfig | None:
    """The rarity config when a rarity row is given, else None (the defaults; nothing of rarity imported)."""
    if not any(k.startswith("rarity.") for k in given):
        return None
    from multiverse.rarity import IndexSettings, RarityConfig

    index = {k.split(".")[2]: v for k, v in given.items() if k.startswith("rarity.index.")}
    return RarityConfig(index=IndexSettings(**index))  # type: ignore[arg-type]


def _market(given: Mapping[str, object]) -> MarketSettings:
    """The market's settings: the chain (memory unless a node's URL is given), market, sign-in and its ports."""
    from multiverse.chain.config import ChainConfig
    from multiverse.market.market import MarketConfig
    from multiverse.market.signin import SignInConfig
    from multiverse.market.wiring import MarketSettings

    def part(prefix: str) -> dict[str, object]:
        return {k[len(prefix):]: v for k, v in given.items() if k.startswith(prefix) and "." not in k[len(prefix):]}

    chain = part("market.chain.")
    chain.setdefault("kind", "rpc" if chain.get("rpc_url") else "memory")
    market = MarketConfig(signin=SignInConfig(**part("market.market.signin.")),  # type: ignore[arg-type]
                          **part("market.market."))  # type: ignore[arg-type]
    return MarketSettings(ChainConfig(**chain), market, **part("market."))  # type: ignore[arg-type]


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


def add_flags(parser: argparse.ArgumentParser, scope: str, default: object = None) -> None:
    """Add the flags of ``scope`` to ``parser`` (``default``: argparse.SUPPRESS to keep a value given earlier)."""
    for option in options.OPTIONS:
        if option.scope == scope and option.flag:
            kind = Path if option.parse is options.path else None
            parser.add_argument(option.flag, dest=option.dest, default=default, type=kind,
                                metavar="PEM" if option.flag.startswith("--tls") else None,
                                help=f"{option.help} (default ${option.env} or {default_text(option)})")


def default_text(option: options.Option) -> str:
    """The default shown for ``option``: its ``shown_default``, else its dataclass field's default."""
    if option.shown_default:
        return option.shown_default
    value = field_default(option.path)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value in (None, "", ()) else str(value)


def field_default(dotted: str) -> object:
    """The default of the dataclass field at ``dotted`` in Settings (``limits.max_state_bytes``, ...)."""
    owner, _, name = dotted.rpartition(".")
    cls = settings_classes()[owner]
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else None


def markdown_table() -> str:
    """The README's configuration table, one row per setting."""
    lines = ["| variable | flag | default | what |", "|---|---|---|---|"]
    for o in options.OPTIONS:
        commands = {"up": " (`up`, `serve`)", "serve": " (`serve`)"}.get(o.scope, "")
        flag = f"`{o.flag}`" + commands if o.flag else ""
        lines.append(f"| `{o.env}` | {flag} | {default_text(o)} | {o.help} |")
    return "\n".join(lines)
