"""Helpers of bench/dedup_bench.py: the game server's stream of saves, what a data directory stores, the
content-defined-chunking anchor and the collector's run.

The stream: an Oasis-shaped space (frames 16x18x32 float16, 18 KiB a frame), a context window of ``window``
frames that slides by ``slide`` frames per save (the frames that leave are the oldest, the new ones are appended),
a few players whose stats and vectors change every save, and guidance texts keyed to absolute frames (so each
save's header changes too, as a game server's does). Every frame is seeded noise, so no two frames share bytes by
chance: all the dedup measured is the window's.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import torch

ROOT = Path(__file__).resolve().parents[1]

from multiverse.records import SpaceRecord  # noqa: E402
from multiverse.state.format import encode_state  # noqa: E402

SPACE = SpaceRecord("oasis", (16, 18, 32), "float16", 64)
FRAME_BYTES = 16 * 18 * 32 * 2
TEXT_EVERY = 48  # a guidance text every this many frames of the game
MANIFEST_ENTRY = 36  # a chunk's entry in a manifest: 32-byte digest and a u32 length (ours and the anchor's)


class Stream:
    """The saves of one game server: ``state(i)`` is the i-th save's state file (deterministic)."""

    def __init__(self, saves: int, window: int, slide: int, players: int, seed: int = 0) -> None:
        self.saves, self.window, self.slide, self.players = saves, window, slide, players
        g = torch.Generator().manual_seed(seed)
        self.total = window + (saves - 1) * slide  # every frame the game ever produces, in order
        self.frames = torch.randn((self.total, *SPACE.frame_shape), generator=g).half()
        self.seed = seed

    @property
    def new_frame_bytes(self) -> int:
        """Bytes of the frames that were new when saved: the first window, then ``slide`` frames a save."""
        return self.total * FRAME_BYTES

    def state(self, i: int) -> bytes:
        first = i * self.slide
        g = torch.Generator().manual_seed(self.seed * 100_003 + i)
        vectors = torch.randn((self.players, SPACE.player_dim), generator=g).half()
        people = [{"uuid": str(uuid.UUID(int=p + 1, version=4)), "name": f"player{p}",
                   "stats": {"Health": 20.0, "foodLevel": 20, "XpLevel": p + i // 10,
                             "Pos": [round(float(x), 3) for x in torch.rand(3, generator=g) * 200 - 100],
                             "Dimension": "minecraft:overworld"}} for p in range(self.players)]
        texts = [{"frame": f - first, "text": f"event at game frame {f}"}
                 for f in range(-(-first // TEXT_EVERY) * TEXT_EVERY, first + self.window, TEXT_EVERY)]
        return encode_state(self.frames[first : first + self.window], vectors, space=SPACE.name, players=people,
                            timeline=texts)

    def __iter__(self) -> Iterator[bytes]:
        return (self.state(i) for i in range(self.saves))


def serve(data: Path) -> tuple[subprocess.Popen, str]:
    """``multiverse serve --services store,multiverse`` on data directory ``data``, as its own process (the store and
    crossing services as the split topology runs them: no rarity worker in the process, whose scoring of each save
    would share the saves' interpreter): (the process, its gRPC address)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "multiverse.cli", "--data", str(data), "serve", "--services", "store,multiverse",
         "--listen", "127.0.0.1:0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "MULTIVERSE_MARKET": "off"},
    )
    for line in proc.stdout:
        if m := re.match(r"serving .* on (\S+)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(1)
    raise SystemExit(f"multiverse serve on {data} did not start")


def stored_bytes(data: Path) -> int:
    """Bytes a data directory's store holds for states: every chunk once (the ``chunks`` rows' lengths, wherever
    their pack lives: a blob, or inline in the metadata until the flusher moves it), every manifest and every state
    stored whole, read from the metadata, which names each of them (rarity indexes and pictures are not counted).
    Chunk lengths rather than pack sizes, so that a flush moving inline packs into blobs mid-measure counts nothing;
    until the collector runs, nothing is dropped, so a pack holds exactly its chunks."""
    db = sqlite3.connect(f"file:{data / 'multiverse.db'}?mode=ro", uri=True, timeout=60)
    try:
        chunks = db.execute("SELECT COALESCE(SUM(length), 0) FROM chunks").fetchone()[0]
        count, manifests = db.execute("SELECT COUNT(*), COALESCE(SUM(chunk_count), 0) FROM chunked_states").fetchone()
        whole = db.execute("SELECT COALESCE(SUM(state_size), 0) FROM (SELECT DISTINCT state, state_size FROM snapshots "
                           "WHERE state NOT IN (SELECT id FROM chunked_states))").fetchone()[0]
    finally:
        db.close()
    from multiverse.chunks.cut import MAGIC

    return int(chunks) + count * (len(MAGIC) + 12) + MANIFEST_ENTRY * int(manifests) + int(whole)


def cdc_anchor(stream: Stream) -> tuple[int, list[int], float]:
    """Xet-style content-defined chunking of the same saves (FastCDC 16/64/256 KiB over each state file, chunks
    addressed by BLAKE3): (bytes stored: unique chunks and one manifest a save; bytes sent per save: its chunks not
    stored before and its manifest; average chunk size)."""
    from fastcdc import fastcdc

    seen: set[bytes] = set()
    stored, sent, sizes = 0, [], []
    for data in stream:
        view, new = memoryview(data), 0
        chunks = list(fastcdc(data, 16 << 10, 64 << 10, 256 << 10))
        for c in chunks:
            digest = blake3.blake3(view[c.offset : c.offset + c.length]).digest()
            sizes.append(c.length)
            if digest not in seen:
                seen.add(digest)
                new += c.length
        manifest = MANIFEST_ENTRY * len(chunks) + 32
        stored += new + manifest
        sent.append(new + manifest)
    return stored, sent, sum(sizes) / len(sizes)


def collect(data: Path) -> dict[str, Any] | None:
    """Prune every snapshot of the stopped service on ``data`` but what must stay (heads, crosses' inputs), then
    run the collector (multiverse/chunks/gc.py) as if its grace window had passed: what it swept, in how long.
    None where the collector does not exist yet."""
    try:
        from multiverse.chunks.gc import min_grace
        from multiverse.store.prune import Housekeeping
    except ImportError:
        return None
    from multiverse.blobs import open_blob_store
    from multiverse.chunks.blobs import StateBlobs
    from multiverse.chunks.store import ChunkStore
    from multiverse.metadata import open_metadata
    from multiverse.store.auth import Principal

    grace = max(min_grace(), 1.0)
    meta = open_metadata(f"sqlite:///{(data / 'multiverse.db').resolve()}")
    try:
        raw = open_blob_store(str((data / "blobs").resolve()))
        later = time.time() + 3 * grace  # the collector runs after the grace window has passed for every save
        house = Housekeeping.over(meta, StateBlobs(raw, ChunkStore(meta, raw)), clock=lambda: later)
        admin = Principal("admin", "admin", "bench")
        pruned = house.prune(admin, before=later - 2 * grace)
        began = time.perf_counter()
        swept = house.collect(admin, grace_s=grace)
        seconds = time.perf_counter() - began
    finally:
        meta.close()
    out = swept.as_dict()
    gone = sum(out["swept"][k]["bytes"] for k in ("packs", "manifests", "whole"))  # blob bytes deleted
    chunks = out["swept"]["chunks"]["count"]
    return {"pruned": pruned.pruned, "kept": pruned.kept, "swept_bytes": gone, "swept_chunks": chunks,
            "seconds": round(seconds, 3), "mb_per_s": round(gone / seconds / 1e6, 1) if seconds else None,
            "chunks_per_s": round(chunks / seconds) if seconds else None, "held_bytes": out["held_bytes"]}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
