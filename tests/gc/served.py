"""The Admin service behind a real gRPC server: an App serving only the store (the Admin service rides with it),
on SQLite or PostgreSQL metadata and local blobs, with an admin client and a game server's ("alpha"), the
collector's test space (tests/gc/world.py: 4 KiB frames, one chunk each) and what the collector may touch.

The chunk store's touch slack is set to 0 (the domain's test hook, as in tests/gc/conftest.py), so that a grace
window of 0 s is as safe here as an hour is in production: the server runs in this process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from multiverse.app import App
from multiverse.chunks import store as chunk_store
from multiverse.client import Client
from multiverse.config import Settings
from multiverse.metadata.models import chunk_packs, chunked_states, chunks, heads, snapshots, worlds
from multiverse.store.auth import ensure_admin_key
from services.server import build_server
from tests.gc.world import SPACE, window

DBS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass
class Served:
    app: App
    address: str
    admin: Client
    server: Client  # a game server's key, principal "alpha"
    data: Path
    admin_key: str

    def game(self, world: str, saves: int, first: int = 0) -> list[tuple[str, bytes]]:
        """World ``world`` of alpha with ``saves`` saves of a window sliding by 4 frames: [(snapshot id, bytes)]."""
        self.admin.create_world(world, SPACE.name, owner="alpha")
        out = []
        for k in range(saves):
            data = window(first + 4 * k)
            out.append((self.server.save_snapshot(world, data).snapshot.id, data))
        return out

    def stored(self) -> dict[str, Any]:
        """Every row a prune, a deletion or a collection may change, and which of their blobs exist."""
        with self.app.meta.transaction() as conn:
            rows = {t.name: sorted(tuple(r) for r in conn.execute(sa.select(*cols)))
                    for t, cols in ((chunks, [chunks]), (chunk_packs, [chunk_packs]), (chunked_states, [chunked_states]),
                                    (heads, [heads]), (snapshots, [snapshots.c.id, snapshots.c.pruned_at]),
                                    (worlds, [worlds.c.name, worlds.c.deleted_at]))}
        digests = [r[0] for r in rows["chunk_packs"]] + [r[0] for r in rows["chunked_states"]]
        raw = self.app.blobs.inner  # a pack held inline in its row has no blob (and no sha256 for a name)
        return {**rows, "blobs": {d: raw.exists(d) for d in digests if len(d) == 64}}


@pytest.fixture(params=DBS)
def served(request, tmp_path, monkeypatch):
    monkeypatch.setattr(chunk_store, "TOUCH_SLACK_S", 0.0)
    db = ""
    if request.param == "postgres":
        from tests.support.postgres import create_schema

        db = create_schema(request.getfixturevalue("postgres_url"))
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0", db_url=db, workers=8,
                        services=("store",))
    app = App.open(settings)
    key = ensure_admin_key(app.meta, settings.data_dir)
    server, port = build_server(app, settings.grpc_addr)
    server.start()
    address = f"127.0.0.1:{port}"
    admin = Client(address, key)
    alpha = Client(address, admin.create_api_key("alpha").token)
    admin.register_space(SPACE.name, SPACE.frame_shape, SPACE.dtype, SPACE.player_dim, max_players=8)
    try:
        yield Served(app, address, admin, alpha, settings.data_dir, key)
    finally:
        admin.close()
        alpha.close()
        server.stop(grace=None).wait()
        app.close()
