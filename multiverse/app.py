"""Wiring: build the domain objects for one configuration (embedded or scaled-out). No network here."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from merge_kernels import fused
from multiverse.blobs import open_blob_store
from multiverse.blobs.base import BlobStore
from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.store import ChunkStore
from multiverse.config import Settings
from multiverse.crossing import Crossing
from multiverse.metadata import open_metadata
from multiverse.metadata.sql import SqlMetadata
from multiverse.rarity.service import RarityService
from multiverse.store.store import Store

if TYPE_CHECKING:  # the market's stack loads the chain's: imported when the market is configured
    from multiverse.market.wiring import MarketStack


@dataclass
class App:
    settings: Settings
    meta: SqlMetadata
    blobs: BlobStore  # StateBlobs: reads a chunked state's id as its bytes (multiverse/chunks/blobs.py)
    store: Store
    crossing: Crossing
    rarity: RarityService | None = None  # scores every committed snapshot (see multiverse/rarity/service.py)
    market: MarketStack | None = None  # when settings.market is set (chain, market, indexer)

    @classmethod
    def open(cls, settings: Settings) -> App:
        """Open (and migrate) the metadata, open the blob store, drop what interrupted uploads left behind."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        meta = open_metadata(settings.database_url)
        raw = open_blob_store(
            settings.blobs_url, access_key=settings.s3_access_key or None, secret_key=settings.s3_secret_key or None
        )
        blobs = StateBlobs(raw, ChunkStore(meta, raw))
        app = None
        try:
            # Rarity first: it loads its saved indexes (what they lack, and any rebuild, its worker does in the
            # background), then listens to every snapshot the store commits.
            rarity = RarityService.open(meta, blobs, settings.data_dir / "rarity", settings.rarity)
            meta.commits.subscribe(rarity.snapshot_saved)  # saves and crossed worlds alike, in commit order
            store = Store(meta, blobs, settings.spool_dir, settings.limits)
            app = cls(settings, meta, blobs, store, Crossing.over(store), rarity)
            # merge_kernels' fused CPU loops, as configured: compiled or loaded now, not on the first cross
            fused.enable(settings.fused)
            threading.Thread(target=fused.warm_up, name="merge-kernels-warm-up", daemon=True).start()
            store.recover()
            # A local blob directory belongs to this process alone, so nothing in its staging area is in flight;
            # a shared S3 bucket may have other writers' uploads in flight: leave those an hour.
            blobs.sweep_staging(max_age_s=3600.0 if settings.blobs_url.startswith("s3://") else 0.0)
            if settings.market is not None:  # the chain (contracts deployed at start-up by default), market, indexer
                from multiverse.market.wiring import open_market, service_rarity

                app.market = open_market(settings.market, meta, blobs, service_rarity(rarity),
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
        if self.market is not None:
            self.market.close()
        if self.rarity is not None:
            self.rarity.close()
        self.meta.close()
