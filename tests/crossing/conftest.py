"""A real embedded domain (SQLite metadata + a local blob directory) with an admin and a game server."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from multiverse.app import App
from multiverse.config import Limits, Settings
from multiverse.crossing import Crossed, CrossSpec, pipeline_from
from multiverse.records import SnapshotRecord
from multiverse.state.format import decode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest
from tests.crossing.lab import OTHER, SPACE, chunks

ADMIN = Principal("admin", "admin", "k-admin")
SERVER = Principal("alpha", "server", "k-alpha")


@dataclass
class Lab:
    app: App

    def save(self, world: str, data: bytes, parent: SnapshotRecord | None = None) -> SnapshotRecord:
        req = SaveRequest(world, len(data), expected_parent=parent.id if parent else "")
        return self.app.store.save(ADMIN, req, chunks(data))[0]

    def world(self, name: str, space: str = SPACE.name) -> None:
        self.app.store.create_world(ADMIN, name, space)

    def cross(self, parents: list[str], op: str = "", params: dict | None = None, *, name: str = "child",
              who: Principal = ADMIN, pipeline: dict | None = None, **kw) -> Crossed:
        spec = CrossSpec(tuple(parents), pipeline_from(op, params, pipeline), name=name, **kw)
        return self.app.crossing.cross(who, spec)

    def load(self, snapshot: SnapshotRecord):
        return decode_state(self.app.blobs.read(snapshot.state))

    def footprint(self):
        """What a failed cross must not change: worlds, every snapshot reachable from them, heads."""
        worlds = self.app.meta.list_worlds(limit=1000)
        return ([w.name for w in worlds], {w.name: self.app.meta.heads(w.name) for w in worlds})


@pytest.fixture
def lab(tmp_path):
    app = App.open(Settings(data_dir=tmp_path / "data", limits=Limits(max_state_bytes=64 << 20, max_frames=4096)))
    for space in (SPACE, OTHER):
        app.store.register_space(ADMIN, space)
    yield Lab(app)
    app.close()
