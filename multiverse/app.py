"""Wiring: build the domain objects for one configuration (embedded or scaled-out). No network here."""

from __future__ import annotations

from dataclasses import dataclass

from multiverse.blobs import open_blob_store
from multiverse.blobs.base import BlobStore
from multiverse.config import Settings
from multiverse.crossing import Crossing
from multiverse.metadata import open_metadata
from multiverse.metadata.base import Metadata
from multiverse.store import Store


@dataclass
class App:
    settings: Settings
    meta: Metadata
    blobs: BlobStore
    store: Store
    crossing: Crossing

    @classmethod
    def open(cls, settings: Settings) -> App:
        """Open (and migrate) the metadata, open the blob store, drop what interrupted uploads left behind."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        meta = open_metadata(settings.database_url)
        blobs = open_blob_store(
            settings.blobs_url, access_key=settings.s3_access_key or None, secret_key=settings.s3_secret_key or None
        )
        store = Store(meta, blobs, settings.spool_dir, settings.limits)
        store.recover()
        # A local blob directory belongs to this process alone, so nothing in its staging area is in flight;
        # a shared S3 bucket may have other writers' uploads in flight: leave those an hour.
        blobs.sweep_staging(max_age_s=3600.0 if settings.blobs_url.startswith("s3://") else 0.0)
        return cls(settings, meta, blobs, store, Crossing(store))

    def close(self) -> None:
        self.meta.close()
