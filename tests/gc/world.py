"""A game for the collector's tests: a space of 4 KiB frames (one frame per chunk), worlds whose saves hold a
window of frames sliding along one endless deterministic stream, crosses, tokens, and what is stored."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import torch

from multiverse.crossing import Crossing, CrossSpec, pipeline_from
from multiverse.metadata.models import chunk_packs, chunked_states, chunks
from multiverse.records import ROLE_ADMIN, ROLE_SERVER, SnapshotRecord, SpaceRecord
from multiverse.state.format import encode_state
from multiverse.store.auth import Principal
from multiverse.store.prune import Housekeeping
from multiverse.store.store import SaveRequest, Store

SPACE = SpaceRecord("gc", (8, 8, 32), "float16", 8, max_players=8)  # a frame: 4 KiB, one chunk
ADMIN = Principal("admin", ROLE_ADMIN)
SERVER = Principal("alpha", ROLE_SERVER)
WINDOW = 16


@functools.cache
def frame(i: int) -> torch.Tensor:
    """Frame ``i`` of the endless stream."""
    return torch.randn(SPACE.frame_shape, generator=torch.Generator().manual_seed(i)).half()


def window(start: int, n: int = WINDOW) -> bytes:
    """A state holding frames ``start .. start + n - 1`` and two players."""
    frames = torch.stack([frame(i) for i in range(start, start + n)])
    people = [{"uuid": f"00000000-0000-4000-8000-00000000000{i + 1}", "name": f"p{i}",
               "stats": {"Health": 20.0, "Pos": [float(i), 64.0, 0.0]}} for i in range(2)]
    vectors = torch.arange(16, dtype=torch.float32).reshape(2, 8).half()
    return encode_state(frames, vectors, space=SPACE.name, players=people, timeline=[])


@dataclass
class Env:
    store: Store
    house: Housekeeping
    raw: Any  # the blob store under the chunks

    @classmethod
    def open(cls, meta: Any, raw: Any, spool: Path) -> Env:
        store = Store(meta, raw, spool)
        return cls(store, Housekeeping.over(meta, store.blobs), raw)

    @property
    def meta(self) -> Any:
        return self.store.meta

    def close(self) -> None:
        self.meta.close()

    def world(self, name: str) -> None:
        self.store.create_world(ADMIN, name, SPACE.name, owner=SERVER.name)

    def save(self, world: str, data: bytes, who: Principal = SERVER) -> SnapshotRecord:
        parent = self.meta.get_head(world, "main")
        req = SaveRequest(world, len(data), expected_parent=parent or "")
        return self.store.save(who, req, [data])[0]

    def game(self, world: str, saves: int, step: int = 4, first: int = 0) -> list[tuple[SnapshotRecord, bytes]]:
        """``saves`` saves of a window sliding by ``step`` frames from frame ``first``."""
        self.world(world)
        out = []
        for k in range(saves):
            data = window(first + k * step)
            out.append((self.save(world, data), data))
        return out

    def cross(self, name: str, a: SnapshotRecord, b: SnapshotRecord) -> SnapshotRecord:
        spec = CrossSpec((a.id, b.id), pipeline_from("crossover_kpoint", {"k": 1}, None), name=name, seed=3)
        return Crossing.over(self.store).cross(ADMIN, spec).snapshot

    def token(self, snapshot: SnapshotRecord, index: int = 0) -> None:
        """A token naming ``snapshot`` as the market records one (multiverse/market/tables.py)."""
        from multiverse.market.tables import tokens

        with self.meta.transaction(write=True) as conn:
            conn.execute(tokens.insert().values(
                token_id=f"{index:02x}" + snapshot.id[2:], chain_id=1, owner="0x" + "11" * 20,
                discoverer="0x" + "11" * 20, space=SPACE.name, snapshot=snapshot.id, kind="frame",
                vector_index=index, tier="rare", percentile=99.5, dtype="float16", shape="[8,8,32]",
                mint_tx="0x" + "22" * 32, created_at=time.time()))

    def load(self, ref: str) -> bytes:
        return b"".join(self.store.load(ref, who=ADMIN).chunks)

    def stored(self) -> dict[str, Any]:
        """Every row the collector may touch, and which of their blobs exist."""
        with self.meta.transaction() as conn:
            rows = {t.name: sorted(tuple(r) for r in conn.execute(sa.select(t))) for t in
                    (chunks, chunk_packs, chunked_states)}
        digests = [r[0] for r in rows["chunk_packs"] if len(r[0]) == 64]  # pack blobs (inline packs live in rows)
        return {**rows, "blobs": {d: self.raw.exists(d) for d in digests}}

    def chunk_rows(self) -> set[str]:
        with self.meta.transaction() as conn:
            return set(conn.execute(sa.select(chunks.c.address)).scalars())
