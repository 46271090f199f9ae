"""Opening the market for the App: the chain (in-process EVM by default, contracts deployed at start-up, served
as JSON-RPC on a local port for wallets), the market's tables, sign-in, the indexer, and the rarity engine as the
market's ``rarity_of``. Configuration is one frozen object built at the edge (``MarketSettings.from_env``)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from multiverse.chain import Chain, ChainConfig, open_chain
from multiverse.chain.http_rpc import JsonRpcServer, parse_cors_origins
from multiverse.errors import InvalidArgument

from .db import MarketDb
from .indexer import Indexer
from .market import TIERS, Market, MarketConfig, RarityOf
from .signin import SignIn, SignInConfig

log = logging.getLogger("multiverse.market")


@dataclass(frozen=True)
class MarketSettings:
    """``rpc_listen``: where the in-process EVM is served as JSON-RPC for wallets ("" : not served);
    ``rpc_cors_origins``: the web origins (the gallery's) that may call that port from a page (none by default);
    ``rpc_dev_methods``: serve eth-tester's test methods and unlocked accounts there too (off; a development
    machine only); ``poll_s``: how often the indexer follows the chain (0: only when asked)."""

    chain: ChainConfig = field(default_factory=ChainConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    rpc_listen: str = "127.0.0.1:8545"
    poll_s: float = 1.0
    rpc_cors_origins: tuple[str, ...] = ()
    rpc_dev_methods: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rpc_cors_origins", tuple(sorted(parse_cors_origins(self.rpc_cors_origins))))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MarketSettings:
        """``MULTIVERSE_CHAIN_*`` (see ChainConfig.from_env), ``MULTIVERSE_CHAIN_RPC_LISTEN``,
        ``MULTIVERSE_CHAIN_RPC_CORS_ORIGINS`` (comma-separated), ``MULTIVERSE_CHAIN_RPC_DEV_METHODS`` (on/off) and
        ``MULTIVERSE_MARKET_*``: MIN_TIER, FEE_BPS, FEE_RECIPIENT, CONFIRMATIONS, SIGNIN_DOMAIN, SIGNIN_URI, POLL_S."""
        p = "MULTIVERSE_MARKET_"

        def number(name: str, default: float, kind: type = int) -> Any:
            raw = env.get(p + name, "")
            try:
                return kind(raw) if raw else default
            except ValueError:
                raise InvalidArgument(p + name, raw, f"use a {kind.__name__}") from None

        cors = "MULTIVERSE_CHAIN_RPC_CORS_ORIGINS"
        tier = env.get(p + "MIN_TIER", "rare")
        if tier not in TIERS:
            raise InvalidArgument(p + "MIN_TIER", tier, f"use one of {', '.join(TIERS)}")
        signin = SignInConfig(
            domain=env.get(p + "SIGNIN_DOMAIN", "localhost"),
            uri=env.get(p + "SIGNIN_URI", "http://localhost"),
        )
        market = MarketConfig(
            min_tier=tier,
            fee_bps=number("FEE_BPS", 0),
            fee_recipient=env.get(p + "FEE_RECIPIENT", "0x" + "00" * 20),
            confirmations=number("CONFIRMATIONS", 0),
            signin=signin,
        )
        return cls(
            ChainConfig.from_env(env),
            market,
            env.get("MULTIVERSE_CHAIN_RPC_LISTEN", "127.0.0.1:8545"),
            number("POLL_S", 1.0, float),
            tuple(parse_cors_origins(env.get(cors, ""), cors)),
            _switch(env, "MULTIVERSE_CHAIN_RPC_DEV_METHODS"),
        )


@dataclass
class MarketStack:
    chain: Chain
    db: MarketDb
    market: Market
    signin: SignIn
    indexer: Indexer
    rpc_url: str = ""  # the in-process EVM's JSON-RPC endpoint, when served
    _rpc: Any = None

    def close(self) -> None:
        self.indexer.stop()
        if self._rpc is not None:
            self._rpc.close()
        self.chain.close()


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "off", "0", "false", "no"):
        return False
    if raw in ("on", "1", "true", "yes"):
        return True
    raise InvalidArgument(name, env.get(name), "use on or off")


def service_rarity(service: Any) -> RarityOf:
    """The rarity engine (``multiverse.rarity`` RarityService) as the market's ``rarity_of``."""

    def rarity_of(space: str, snapshot: str, kind: str, index: int) -> tuple[str, float]:
        from multiverse.rarity.types import VectorId

        score = service.rarity_of(VectorId(snapshot, kind, index))
        return score.tier, float(score.percentile)

    return rarity_of


def open_market(
    settings: MarketSettings, meta: Any, store: Any, rarity_of: RarityOf, data_dir: Path | None = None,
    tls: ssl.SSLContext | None = None,
) -> MarketStack:
    """Open the chain (deploying the contracts unless configured to attach), the market and its indexer.
    ``meta``: the SqlMetadata the market's tables live in (migrated by open_metadata). ``data_dir``: the App's
    data directory; the in-process chain is kept in its ``chain`` folder (unless configured elsewhere), so tokens
    survive a restart. ``tls``: serve the wallet JSON-RPC port over HTTPS."""
    chain_config = settings.chain
    if chain_config.kind == "memory" and chain_config.data_dir is None and data_dir is not None:
        chain_config = replace(chain_config, data_dir=Path(data_dir) / "chain")
    chain = open_chain(chain_config)
    try:
        return _open_on(chain, settings, meta, store, rarity_of, tls)
    except BaseException:
        chain.close()
        raise


def _open_on(chain: Chain, settings: MarketSettings, meta: Any, store: Any, rarity_of: RarityOf,
             tls: ssl.SSLContext | None = None) -> MarketStack:
    db = MarketDb(meta, chain.contracts.token)
    market = Market(store, chain, db, rarity_of, settings.market)
    signin = SignIn(db, chain.chain_id(), settings.market.signin)
    indexer = Indexer(chain, db, confirmations=settings.market.confirmations)
    indexer.check()  # a chain that is not the one indexed before is a configuration error, not a reorg
    stack = MarketStack(chain, db, market, signin, indexer)
    if settings.chain.kind == "memory" and settings.rpc_listen:
        port = {"cors_origins": settings.rpc_cors_origins, "dev_methods": settings.rpc_dev_methods, "tls": tls}
        try:
            stack._rpc = JsonRpcServer(chain, settings.rpc_listen, **port).start()
        except OSError as exc:  # the port is taken (another local node): serve on any free port instead
            log.warning("cannot serve JSON-RPC on %s (%s); using a free port", settings.rpc_listen, exc)
            stack._rpc = JsonRpcServer(chain, settings.rpc_listen.rpartition(":")[0] + ":0", **port).start()
        stack.rpc_url = stack._rpc.url
    if settings.poll_s > 0:
        indexer.start_polling(settings.poll_s)
    log.info(
        "market on %s%s", chain.describe(), f"; wallets connect to {stack.rpc_url}" if stack.rpc_url else ""
    )
    return stack
