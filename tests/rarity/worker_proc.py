"""A rarity worker in its own process, for the SIGKILL test: ``python -m tests.rarity.worker_proc URL BLOBS HOLDER``.
Serves until killed; prints "ready" once open."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from multiverse.blobs import open_blob_store
from multiverse.metadata import open_metadata
from multiverse.rarity.service import RarityService

if __name__ == "__main__":
    url, blobs_dir, holder = sys.argv[1:4]
    meta = open_metadata(url)
    service = RarityService.open(meta, open_blob_store(blobs_dir), Path(blobs_dir).parent / holder, role="worker",
                                 holder=holder, lease_ttl_s=2.0, poll_s=0.1, reload_s=0.3, publish_s=0.3)
    print("ready", flush=True)
    while True:
        time.sleep(1)
