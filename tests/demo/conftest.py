"""An embedded stack (SQLite + local blobs) serving gRPC on a free port, with its admin key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from multiverse.app import App
from multiverse.auth import ensure_admin_key
from multiverse.client import Client
from multiverse.config import Limits, Settings
from services.server import build_server


@dataclass
class Stack:
    address: str
    admin_key: str
    admin: Client
    data: Path


@pytest.fixture
def stack(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0", limits=Limits(max_state_bytes=64 << 20), workers=8)
    app = App.open(settings)
    token = ensure_admin_key(app.meta, settings.data_dir)
    server, port = build_server(app, settings.grpc_addr)
    server.start()
    address = f"127.0.0.1:{port}"
    admin = Client(address, token)
    yield Stack(address, token, admin, settings.data_dir)
    admin.close()
    server.stop(grace=None).wait()
    app.close()
