"""Reading a snapshot for scoring, chunk by chunk: only the frames whose chunks the space's rarity index has not
scored yet are read (issue 17, point 3). The I/O edge beside ``sync.snapshot_vectors``; the memory itself and the
proof that it never changes a score are in ``chunkrows.py``.

``ChunkReader.read(record)`` reads a chunked state's manifest (the chunk store keeps recent ones at hand) and its
header chunk (parsed once per header: a sliding window's header rarely changes), and names each frames chunk by
its frames' dtype and its BLAKE3 address. The chunks the frame population remembers, and those read earlier in
the same batch, are not read; the others are read by ``ChunkStore.pieces`` over their runs (the players' chunks
joined to a run they touch), or, when they are most of the frames, by one read of the whole state. It returns the
frames as ``chunkrows.Pieces`` and the player vectors as ``snapshot_vectors`` does (player vectors are embedded
as before). A state stored whole before chunking, a blob store without chunks, a header over one chunk, frames
over one chunk (a frame over 1 MiB), or fewer frames than ``chunkrows.min_rows``: read whole, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from multiverse.chunks.cut import PIECE_MAX, Manifest, data_lengths, frames_per_chunk
from multiverse.rarity.chunkrows import Pieces, min_rows
from multiverse.rarity.sync import snapshot_vectors
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import Header, Tensor, stored_header
from multiverse.state.read import read_state

HEADERS_KEPT = 1024  # parsed headers kept, by their chunk's address (content-addressed: valid for every state)
_headers: OrderedDict[str, Header] = OrderedDict()
_headers_lock = threading.Lock()

Vectors = tuple["np.ndarray | Pieces", "np.ndarray | None"]


class ChunkReader:
    """Reads the snapshots of one batch of one space for ``engine`` (a ``RarityEngine``); ``new_batch()`` between
    batches that were committed (or refused) in between."""

    def __init__(self, blobs: Any, space: SpaceRecord, engine: Any) -> None:
        self.blobs, self.space = blobs, space
        self.store = getattr(blobs, "chunks", None)  # a ChunkStore where ``blobs`` is the store's StateBlobs
        self.pop = engine.population("frame")
        self.min_rows = max(2, min_rows(self.pop.embedder))
        self.batch: set[str] = set()  # keys read for an earlier snapshot of this batch
        self.bytes_read = 0  # state bytes read (chunks and whole states)

    def new_batch(self) -> None:
        self.batch = set()

    def read(self, record: SnapshotRecord) -> Vectors:
        """(frames as ``Pieces`` or (T, *frame_shape), player vectors (P, player_dim) or None) of ``record``."""
        manifest = self.store.manifest(record.state) if self.store is not None else None
        header = self._header(manifest) if manifest is not None else None
        frames = header.tensor("frames") if header is not None else None
        if (frames is None or not self.min_rows <= frames.rows or not 0 < frames.row_bytes <= PIECE_MAX
                or list(manifest.lengths[1:]) != data_lengths(header)):
            self.bytes_read += record.state_size
            return snapshot_vectors(self.blobs, record, self.space)
        per = frames_per_chunk(frames.row_bytes)
        count = -(-frames.rows // per)
        counts = tuple(min(per, frames.rows - j * per) for j in range(count))
        keys = tuple(f"{frames.dtype.name}:{a}" for a in manifest.addresses[1 : 1 + count])
        wanted: dict[str, int] = {}  # fresh key -> its chunk's position in the manifest
        for j, key in enumerate(keys):
            if key not in wanted and key not in self.batch and self.pop.chunk_rows.rows(self.pop, key) is None:
                wanted[key] = 1 + j
        players_t = header.tensor("players")
        want_players = bool(self.space.player_dim and players_t.rows and players_t.row_bytes)
        if 2 * len(wanted) > count:  # most are new: one read of the whole state
            self.bytes_read += record.state_size
            tensors, _ = read_state(self.blobs, record.state, record.state_size)
            whole = self._convert(tensors["frames"])
            fresh = {key: whole[(at - 1) * per : (at - 1) * per + counts[at - 1]] for key, at in wanted.items()}
            players = _player_vectors(tensors.get("players")) if want_players else None
        else:
            extra = range(1 + count, len(manifest.addresses)) if want_players else range(0)
            data = self._pieces(manifest, sorted(wanted.values()) + list(extra))
            fresh = {key: self._frames(frames, data[at], counts[at - 1]) for key, at in wanted.items()}
            players = _player_vectors(_tensor(players_t, [data[i] for i in extra])) if want_players else None
        self.batch.update(fresh)
        return Pieces(keys, counts, fresh), players

    def _header(self, manifest: Manifest) -> Header | None:
        """The state's parsed header when it is its first chunk (None: a longer header, cut by content)."""
        first = manifest.addresses[0]
        with _headers_lock:
            header = _headers.get(first)
            if header is not None:
                _headers.move_to_end(first)
                return header
        raw = next(self.store.pieces(manifest, 0, 0))
        self.bytes_read += len(raw)
        if 8 + int.from_bytes(raw[:8], "little") != len(raw):
            return None
        header = stored_header(raw, manifest.size)
        if header.tensors[0].name != "frames":  # frames' chunks come first in every state this code writes
            return None
        with _headers_lock:
            _headers[first] = header
            while len(_headers) > HEADERS_KEPT:
                _headers.popitem(last=False)
        return header

    def _pieces(self, manifest: Manifest, positions: list[int]) -> dict[int, bytes]:
        """{position: chunk bytes} for ``positions`` (ascending), each run of neighbours read by one ``pieces``."""
        out: dict[int, bytes] = {}
        i = 0
        while i < len(positions):
            j = i
            while j + 1 < len(positions) and positions[j + 1] == positions[j] + 1:
                j += 1
            for at, piece in zip(range(positions[i], positions[j] + 1),
                                 self.store.pieces(manifest, positions[i], positions[j])):
                out[at] = piece
                self.bytes_read += len(piece)
            i = j + 1
        return out

    def _frames(self, t: Tensor, raw: bytes, count: int) -> np.ndarray:
        """One frames chunk's ``count`` frames, converted as ``snapshot_vectors`` converts a state's frames."""
        return self._convert(_tensor(t, [raw], count))

    def _convert(self, frames: torch.Tensor) -> np.ndarray:
        return (frames.to(torch.int64) if self.space.discrete else frames.to(torch.float32)).numpy()


def _tensor(t: Tensor, pieces: list[bytes], rows: int | None = None) -> torch.Tensor:
    """``rows`` (default: all) rows of tensor ``t`` from its data's bytes ``pieces``."""
    rows = t.rows if rows is None else rows
    buf = np.frombuffer(b"".join(pieces), dtype=np.uint8).copy()  # writable, for torch.frombuffer
    dtype = getattr(torch, t.dtype.name)
    if not buf.size:
        return torch.empty((rows, *t.shape[1:]), dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype).reshape(rows, *t.shape[1:])


def _player_vectors(players: torch.Tensor | None) -> np.ndarray | None:
    if players is None or not players.numel():
        return None
    return players.to(torch.float32).reshape(players.shape[0], -1).numpy()
