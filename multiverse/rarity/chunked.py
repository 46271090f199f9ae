"""Reading a snapshot for scoring, chunk by chunk: only the frames whose chunks the space's rarity index has not
scored yet are read (issue 17, point 3). The I/O edge beside ``sync.snapshot_vectors``; the memory itself and the
proof that it never changes a score are in ``chunkrows.py``.

``ChunkReader.read(record)`` reads a chunked state's manifest (the chunk store keeps recent ones at hand) and names
each chunk by the space's dtype and its BLAKE3 address. When most chunks are neither remembered by the frame
population nor read earlier in the same batch (a first save, an unrelated state), the state is read whole in one
read, as before. Otherwise its header chunk is parsed (once per header: a sliding window's header rarely changes)
and only the frames chunks that are not known are read, by ``ChunkStore.pieces`` over their runs, with the player
chunks. Either way the frames come back as ``chunkrows.Pieces`` (the known chunks named, the others' frames
given) and the player vectors as ``snapshot_vectors`` gives them (they are embedded as before). A state stored
whole before chunking, a blob store without chunks, frames over one chunk (a frame over 1 MiB) or fewer frames
than ``chunkrows.min_rows``: plain arrays, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from multiverse.chunks.cut import PIECE_MAX, Manifest, data_lengths, frames_per_chunk
from multiverse.errors import Corrupt
from multiverse.rarity.chunkrows import Pieces, min_rows
from multiverse.rarity.sync import snapshot_vectors
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import Header, Tensor, stored_header

HEADERS_KEPT = 1024  # parsed headers kept, by their chunk's address (content-addressed: valid for every state)
_headers: OrderedDict[str, Header | None] = OrderedDict()  # None: a header longer than its first chunk
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
        if manifest is None:  # stored whole before chunking (or no chunk store): as before
            self.bytes_read += record.state_size
            return snapshot_vectors(self.blobs, record, self.space)
        # frames are the space's dtype (checked at every save); a header or player chunk is never remembered
        keys = [f"{self.space.dtype}:{a}" for a in manifest.addresses]
        known = sum(1 for k in keys if k in self.batch or self.pop.chunk_rows.rows(self.pop, k) is not None)
        header = self._header(manifest) if 2 * known >= len(keys) else None
        if header is None:  # most are new (or a header of several chunks): one read of the whole state
            return self._whole(record, manifest, keys)
        layout = self._layout(header, manifest)
        if layout is None:
            return self._whole(record, manifest, keys)
        frames, per, counts = layout
        names = tuple(keys[1 : 1 + len(counts)])
        wanted = self._wanted(names)
        players_t = header.tensor("players")
        want_players = bool(self.space.player_dim and players_t.rows and players_t.row_bytes)
        extra = range(1 + len(counts), len(keys)) if want_players else range(0)
        data = self._pieces(manifest, sorted(1 + j for j in wanted.values()) + list(extra))
        fresh = {key: self._convert(_joined(frames, [data[1 + j]], counts[j])) for key, j in wanted.items()}
        players = _player_vectors(_joined(players_t, [data[i] for i in extra])) if want_players else None
        self.batch.update(fresh)
        return Pieces(names, counts, fresh), players

    def _whole(self, record: SnapshotRecord, manifest: Manifest, keys: list[str]) -> Vectors:
        """``read`` by one read of the whole state (``read_state``'s way), its frames still named by chunk."""
        buf = np.empty(manifest.size, dtype=np.uint8)
        if self.blobs.read_into(record.state, memoryview(buf), verify=True) != manifest.size:
            raise Corrupt(f"state {record.state} is shorter than its manifest says", state=record.state)
        self.bytes_read += manifest.size
        header = stored_header(memoryview(buf))
        tensors = {t.name: _view(buf, header.data_start + t.begin, t, t.rows) for t in header.tensors}
        players = tensors.get("players")
        players = _player_vectors(players) if self.space.player_dim else None
        heads = len(keys) - len(data_lengths(header))  # the header's chunks
        # the next save of a sliding window has this header, most likely
        _keep(manifest.addresses[0], header if heads == 1 else None)
        layout = self._layout(header, manifest, heads) if heads >= 1 else None
        if layout is None:
            return self._convert(tensors["frames"]), players
        _, per, counts = layout
        names = tuple(keys[heads : heads + len(counts)])
        whole = self._convert(tensors["frames"])
        fresh = {key: whole[j * per : j * per + counts[j]] for key, j in self._wanted(names).items()}
        self.batch.update(fresh)
        return Pieces(names, counts, fresh), players

    def _layout(self, header: Header, manifest: Manifest, heads: int = 1) -> tuple[Tensor, int, tuple[int, ...]] | None:
        """(frames tensor, frames per chunk, frames in each frames chunk) where the memory may serve the state:
        frames first, at least ``min_rows`` of them, each within one chunk, cut as ``cut`` cuts; else None."""
        frames = header.tensors[0]
        if (frames.name != "frames" or frames.dtype.name != self.space.dtype or frames.rows < self.min_rows
                or not 0 < frames.row_bytes <= PIECE_MAX or list(manifest.lengths[heads:]) != data_lengths(header)
                or sum(manifest.lengths[:heads]) != header.data_start):
            return None
        per = frames_per_chunk(frames.row_bytes)
        return frames, per, tuple(min(per, frames.rows - j * per) for j in range(-(-frames.rows // per)))

    def _wanted(self, names: tuple[str, ...]) -> dict[str, int]:
        """{key: its first frames chunk j} for the keys neither remembered nor read earlier in the batch."""
        wanted: dict[str, int] = {}
        for j, key in enumerate(names):
            if key not in wanted and key not in self.batch and self.pop.chunk_rows.rows(self.pop, key) is None:
                wanted[key] = j
        return wanted

    def _header(self, manifest: Manifest) -> Header | None:
        """The state's parsed header when it is its first chunk (None: a longer header, cut by content)."""
        first = manifest.addresses[0]
        with _headers_lock:
            if first in _headers:
                _headers.move_to_end(first)
                return _headers[first]
        raw = next(self.store.pieces(manifest, 0, 0))
        self.bytes_read += len(raw)
        # the first 8 bytes say the header's length: whether it is this chunk alone is the chunk's own property
        header = stored_header(raw, manifest.size) if 8 + int.from_bytes(raw[:8], "little") == len(raw) else None
        _keep(first, header)
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

    def _convert(self, frames: torch.Tensor) -> np.ndarray:
        """Frames as ``snapshot_vectors`` converts a state's: int64 token ids, or float32."""
        return (frames.to(torch.int64) if self.space.discrete else frames.to(torch.float32)).numpy()


def _keep(address: str, header: Header | None) -> None:
    with _headers_lock:
        _headers[address] = header
        _headers.move_to_end(address)
        while len(_headers) > HEADERS_KEPT:
            _headers.popitem(last=False)


def _joined(t: Tensor, pieces: list[bytes], rows: int | None = None) -> torch.Tensor:
    """``rows`` (default: all) rows of tensor ``t`` from its data's bytes, ``pieces`` back to back."""
    return _view(np.frombuffer(bytearray().join(pieces), dtype=np.uint8), 0, t, t.rows if rows is None else rows)


def _view(buf: np.ndarray, offset: int, t: Tensor, rows: int) -> torch.Tensor:
    """``rows`` rows of tensor ``t`` whose data starts at ``offset`` of ``buf`` (uint8, writable), not copied."""
    dtype = getattr(torch, t.dtype.name)
    count = rows * t.row_bytes // t.dtype.itemsize
    if count == 0:
        return torch.empty((rows, *t.shape[1:]), dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype, count=count, offset=offset).reshape(rows, *t.shape[1:])


def _player_vectors(players: torch.Tensor | None) -> np.ndarray | None:
    if players is None or not players.numel():
        return None
    return players.to(torch.float32).reshape(players.shape[0], -1).numpy()
