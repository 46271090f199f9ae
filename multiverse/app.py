"""Wiring: build the domain objects for one configuration (embedded or scaled-out). No network here.

``settings.services`` says what this process serves (``multiverse serve --services``; ``up`` serves all), and
``App.open`` opens only what those need:

| service | opens |
|---|---|
| store, multiverse | metadata, blobs, the store (and the crossing over it); drops what interrupted uploads left |
| multiverse | also merge_kernels' fused loops, compiled now rather than on the first cross |
| rarity | the rarity service, fed every snapshot this process commits (its worker scores and saves the index) |
| market | the chain, the market and its indexer (polling) |
| http | what the gateway reads: rarity and the market, without the writers below |

A process that reads rarity (market, http) without running ``rarity`` gets the rarity service in the reader role:
the persisted indexes, reloaded when their pointers move; it never scores, saves an index or moves a pointer
(the rarity workers own them, a space each by lease). A process that reads the market without running ``market`` opens it with the indexer
not polling: the market process keeps the tables up to date.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from merge_kernels import fused
from multiverse.blobs import open_blob_store
from multiverse.blobs.base import BlobStore
from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.flush import Flusher
from multiverse.chunks.store import ChunkStore
from multiverse.config import Settings
from multiverse.crossing import Crossing
from multiverse.metadata import open_metadata
from multiverse.metadata.sql import SqlMetadata
from multiverse.options import SERVICES
from multiverse.rarity.service import RarityService
from multiverse.store.store import Store

if TYPE_CHECKING:  # the market's stack loads the chain's: imported when the market is configured
    from multiverse.market.wiring import MarketStack

WRITERS = frozenset({"store", "multiverse"})  # the services that upload states (spool, blob staging)
RARITY_READERS = frozenset({"market", "http"})  # they read rarity; "rarity" itself runs the worker
MARKET_USERS = frozenset({"market", "http"})


@dataclass
class App:
    settings: Settings
    meta: SqlMetadata
    blobs: BlobStore
    store: Store
    crossing: Crossing
    rarity: RarityService | None = None  # scores every committed snapshot (see multiverse/rarity/service.py)
    market: MarketStack | None = None  # when settings.market is set (chain, market, indexer)
    flusher: Flusher | None = None  # moves saves' inline chunk packs into pack blobs (multiverse/chunks/flush.py)

    @property
    def services(self) -> tuple[str, ...]:
        """What this process serves: ``settings.services`` less the market when no market is configured."""
        return tuple(s for s in self.settings.services if s != "market" or self.market is not None)

    @classmethod
    def open(cls, settings: Settings) -> App:
        """Open (and migrate) the metadata, open the blob store, drop what interrupted uploads left behind, and
        start what ``settings.services`` needs (see the module docstring)."""
        wanted = set(settings.services)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        meta = open_metadata(settings.database_url)
        raw = open_blob_store(
            settings.blobs_url, access_key=settings.s3_access_key or None, secret_key=settings.s3_secret_key or None
        )
        # reads a chunked state's id as its bytes; the journal names this process's pack blobs not yet recorded
        blobs = StateBlobs(raw, ChunkStore(meta, raw, journal=settings.data_dir / "pack-journal"))
        app = None
        try:
            # Rarity first: it loads its saved indexes (what they lack, and any rebuild, its worker does in the
            # background), then listens to every snapshot the store commits.
            rarity = None
            if wanted & ({"rarity"} | RARITY_READERS):
                # up: one worker for every space; serve --services rarity: spaces spread over the workers by
                # lease; a process that only reads rarity serves the persisted indexes (multiverse/rarity/service.py)
                role = ("embedded" if wanted >= set(SERVICES) else "worker") if "rarity" in wanted else "reader"
                rarity = RarityService.open(meta, blobs, settings.data_dir / "rarity", settings.rarity, role=role)
                meta.commits.subscribe(rarity.snapshot_saved)  # a wake-up hint: the worker polls the commit seq
            store = Store(meta, blobs, settings.spool_dir, settings.limits)
            app = cls(settings, meta, blobs, store, Crossing.over(store), rarity)
            if "multiverse" in wanted:  # merge_kernels' fused CPU loops, as configured: compiled now
                fused.enable(settings.fused)
                threading.Thread(target=fused.warm_up, name="merge-kernels-warm-up", daemon=True).start()
            if wanted & WRITERS:
                store.recover()  # the spool is this data directory's own
                blobs.chunks.recover()  # pack blobs put just before a crash, their rows never committed: deleted
                # The data directory's own blob directory belongs to this process alone, so nothing in its staging
                # area is in flight; a directory named by --blobs or an S3 bucket may be shared with replicas
                # whose uploads are in flight: leave those an hour.
                blobs.sweep_staging(max_age_s=3600.0 if settings.blob_url else 0.0)
                app.flusher = Flusher(blobs.chunks).start()
            if settings.market is not None and wanted & MARKET_USERS:  # the chain, market, indexer
                from multiverse.market.wiring import open_market, service_rarity

                market = settings.market if "market" in wanted else replace(settings.market, poll_s=0.0)
                app.market = open_market(market, meta, blobs, service_rarity(rarity),
                                         data_dir=settings.data_dir,
                                         tls=settings.tls.server_context() if settings.tls else None)
            return app
        except BaseException:
            if app is not None:
                app.close()  # stops the rarity worker and whatever else had started
            else:
                meta.close()
            raise

    def close(self) -> None:
        if self.flusher is not None:
            self.flusher.stop()
        if self.market is not None:
            self.market.close()
        if self.rarity is not None:
            self.rarity.close()
        self.meta.close()
