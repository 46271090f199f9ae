"""Wiring: build the domain objects for one configuration (embedded or scaled-out). No network here."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from merge_kernels import fused
from multiverse.blobs import open_blob_store
from multiverse.blobs.base import BlobStore
from multiverse.config import Settings
from multiverse.crossing import Crossing
from multiverse.metadata import open_metadata
from multiverse.metadata.base import Metadata
from multiverse.rarity.service import RarityService
from multiverse.rarity.sync import Observed
from multiverse.store.store import Store


@dataclass
class App:
    settings: Settings
    meta: Metadata
    blobs: BlobStore
    store: Store
    crossing: Crossing
    rarity: RarityService | None = None  # scores every committed snapshot (see multiverse/rarity/service.py)
    market: Any = None  # multiverse.market.wiring.MarketStack when settings.market is set (chain, market, indexer)

    @classmethod
    def open(cls, settings: Settings) -> App:
        """Open (and migrate) the metadata, open the blob store, drop what interrupted uploads left behind."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        meta = open_metadata(settings.database_url)
        blobs = open_blob_store(
            settings.blobs_url, access_key=settings.s3_access_key or None, secret_key=settings.s3_secret_key or None
        )
        app = None
        try:
            # Rarity first: it loads its saved indexes (what they lack, and any rebuild, its worker does in the
            # background), then listens to every snapshot the store commits.
            rarity = RarityService.open(meta, blobs, settings.data_dir / "rarity", settings.rarity)
            store = Store(Observed(meta, rarity.snapshot_saved), blobs, settings.spool_dir, settings.limits)
            app = cls(settings, meta, blobs, store, Crossing(store), rarity)
            # merge_kernels' fused CPU loops: compiled or loaded now, not on the first cross
            threading.Thread(target=fused.warm_up, name="merge-kernels-warm-up", daemon=True).start()
            store.recover()
            # A local blob directory belongs to this process alone, so nothing in its staging area is in flight;
            # a shared S3 bucket may have other writers' uploads in flight: leave those an hour.
            blobs.sweep_staging(max_age_s=3600.0 if settings.blobs_url.startswith("s3://") else 0.0)
            if settings.market is not None:  # the chain (contracts deployed at start-up by default), market, indexer
                from multiverse.market.wiring import open_market, service_rarity

                app.market = open_market(settings.market, meta, store, service_rarity(rarity),
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
