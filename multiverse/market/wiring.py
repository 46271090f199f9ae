"""Opening the market for the App: the chain (in-process EVM by default, contracts deployed at start-up, served
as JSON-RPC on a local port for wallets), the market's tables, sign-in, the indexer, and the rarity engine as the
market's ``rarity_of``. Configuration is one frozen object built at the edge (``multiverse.config``, from the rows of ``multiverse.options``)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from multiverse.blobs.base import BlobStore
from multiverse.chain import Chain, ChainConfig, open_chain
from multiverse.chain.http_rpc import JsonRpcServer, parse_cors_origins
from multiverse.metadata.sql import SqlMetadata

from .db import MarketDb
from .indexer import Indexer
from .market import Market, MarketConfig, RarityOf
from .signin import SignIn

if TYPE_CHECKING:  # the rarity engine's stack (faiss) is the App's to load
    from multiverse.rarity.service import RarityService

log = logging.getLogger("multiverse.market")


@dataclass(frozen=True)
class MarketSettings:
    """``rpc_listen``: where the in-process EVM is served as JSON-RPC for wallets ("" : not served);
    ``rpc_cors_origins``: the web origins (the gallery's) that may call that port from a page (none by default);
    ``rpc_dev_methods``: serve eth-tester's test methods and unlocked accounts there too (off; a development
    machine only); ``poll_s``: how often the indexer follows the chain (0: only when asked); of several market
    processes on one metadata, one indexes (the lease holder) and the others stand by (``Indexer.leadership``)."""

    chain: ChainConfig = field(default_factory=ChainConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    rpc_listen: str = "127.0.0.1:8545"
    poll_s: float = 1.0
    rpc_cors_origins: tuple[str, ...] = ()
    rpc_dev_methods: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rpc_cors_origins", tuple(sorted(parse_cors_origins(self.rpc_cors_origins))))


@dataclass
class MarketStack:
    chain: Chain
    db: MarketDb
    market: Market
    signin: SignIn
    indexer: Indexer
    rpc_url: str = ""  # the in-process EVM's JSON-RPC endpoint, when served
    _rpc: JsonRpcServer | None = None

    def close(self) -> None:
        self.indexer.stop()  # and releases the indexer's lease, so a standby takes over at its next round
        if self._rpc is not None:
            self._rpc.close()
        self.chain.close()


class ServiceRarity:
    """The rarity service (``multiverse.rarity`` RarityService) as the market's ``rarity_of``, which also pins a
    claimed vector's score (``PinningRarity``: the population and calibration saved to the service's blob store)."""

    def __init__(self, service: RarityService) -> None:
        from multiverse.rarity.pin import Pinner

        self.service, self.pinner = service, Pinner(service.blobs)

    def __call__(self, space: str, snapshot: str, kind: str, index: int) -> tuple[str, float]:
        from multiverse.rarity.types import VectorId

        score = self.service.rarity_of(VectorId(snapshot, kind, index))
        return score.tier, float(score.percentile)

    def pin(self, space: str, snapshot: str, kind: str, index: int):
        from multiverse.rarity.types import VectorId

        engine = self.service.engine(space or self.service.space_of(snapshot))
        return self.pinner.pin(engine, VectorId(snapshot, kind, index))


def service_rarity(service: RarityService) -> RarityOf:
    """The rarity engine (``multiverse.rarity`` RarityService) as the market's ``rarity_of`` (and pinner)."""
    return ServiceRarity(service)


def open_market(
    settings: MarketSettings, meta: SqlMetadata, blobs: BlobStore, rarity_of: RarityOf, data_dir: Path | None = None,
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
        return _open_on(chain, settings, meta, blobs, rarity_of, tls)
    except BaseException:
        chain.close()
        raise


def _open_on(chain: Chain, settings: MarketSettings, meta: SqlMetadata, blobs: BlobStore, rarity_of: RarityOf,
             tls: ssl.SSLContext | None = None) -> MarketStack:
    db = MarketDb(meta, chain.contracts.token)
    market = Market(meta, blobs, chain, db, rarity_of, settings.market)
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
