"""An embedded stack (SQLite + local blobs) serving gRPC on a free port, with an admin and a server client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from multiverse.app import App
from multiverse.client import Client
from multiverse.config import Limits, Settings
from multiverse.store.auth import ensure_admin_key
from services.server import build_server

LIMITS = Limits(max_state_bytes=64 << 20, max_frames=4096)


@dataclass
class Stack:
    app: App
    address: str
    admin: Client
    server: Client  # a game server's key, principal "alpha"
    data: Path

    def client(self, key: str | None) -> Client:
        return Client(self.address, key)


@pytest.fixture
def stack(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0", limits=LIMITS, workers=8)
    app = App.open(settings)
    admin_token = ensure_admin_key(app.meta, settings.data_dir)
    server, port = build_server(app, settings.grpc_addr)
    server.start()
    address = f"127.0.0.1:{port}"
    admin = Client(address, admin_token)
    alpha = Client(address, admin.create_api_key("alpha").token)
    admin.register_space("demo", (4, 3, 2), "float16", 8, max_players=8)
    yield Stack(app, address, admin, alpha, settings.data_dir)
    admin.close()
    alpha.close()
    server.stop(grace=None).wait()
    app.close()
