"""Storing a crossed child as chunks, so that the frames it takes whole from its parents cost nothing new.

A child is computed as pieces (``encode_state_parts``: the header, then each tensor's data viewing the tensor).
``cut_parts`` cuts those pieces where ``multiverse.chunks.cut`` cuts a state file (the header, frames at frame
boundaries, players at row boundaries) without joining them: every chunk is a view into one piece, since no cut
crosses a tensor's edge. The manifest is the one ``cut.cut`` gives for the joined bytes, so the child's id is
the one a client recomputes from the bytes it loads, and the same child stored twice is one state.

A k-point cross copies whole frames bit for bit (merge_kernels' selection operators), so every chunk of its
frames is already stored under its parents, and ``ChunkStore.put`` writes only its header and player
chunks: a 512-frame child of 9.4 MB stores about 2 KB anew. A spatial mask mixes parents inside each frame, so
its frames are new bytes and are stored as such.

Each chunk is recorded with the check its values passed, as a save's are (``validate.checked_as``): "" for the
header (raw bytes), the tensor's dtype for float frames and players, which ``make_child`` checked finite before
encoding, and ``dtype/vocab`` for token ids, scanned here in the chunks that are new. A blob store without chunks (a bare ``BlobStore``, not ``StateBlobs``) gets the child whole,
under the SHA-256 of its bytes, as before chunking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from multiverse.chunks.cut import Manifest, address, data_lengths, header_lengths
from multiverse.chunks.store import ChunkStore, Piece
from multiverse.state.format import stored_header
from multiverse.state.validate import check_values
from multiverse.store.chunked import Role, roles


def chunk_store(blobs: Any) -> ChunkStore | None:
    """The ChunkStore behind ``blobs`` (``StateBlobs.chunks``), or None for a blob store that stores whole files."""
    found = getattr(blobs, "chunks", None)
    return found if isinstance(found, ChunkStore) else None


def cut_parts(parts: Sequence[memoryview], vocab: int = 0) -> tuple[Manifest, list[memoryview], list[Role]]:
    """A state file given as pieces (the header's bytes, then the tensors' data in data order, as
    ``encode_state_parts`` gives them) -> its manifest, its chunks (views into the pieces; a chunk that straddles
    two pieces, which no cut of ours does, is joined alone) and each chunk's role (header bytes, or which tensor
    from which byte, and the check its values need: ``multiverse.store.chunked.roles``, as a save's)."""
    views = [memoryview(p).cast("B") for p in parts]
    head, size = views[0], sum(len(v) for v in views)
    header = stored_header(head, size)
    if len(head) != header.data_start:
        raise ValueError(f"the first piece holds {len(head)} bytes, the header {header.data_start}: pass the pieces "
                         "as encode_state_parts gives them")
    pieces, at = [], 0
    for n in header_lengths(head):
        pieces.append(head[at : at + n])
        at += n
    n_head, data = len(pieces), _Reader(views[1:])
    pieces += [data.take(n) for n in data_lengths(header)]
    manifest = Manifest(size, tuple(address(p) for p in pieces), tuple(len(p) for p in pieces))
    return manifest, pieces, roles(header, n_head, manifest.lengths, vocab)


class _Reader:
    """Consecutive slices of a sequence of pieces read as one stream, as views where a slice lies in one piece."""

    def __init__(self, views: Sequence[memoryview]) -> None:
        self.views, self.index, self.at, self.offset = [v for v in views if len(v)], 0, 0, 0

    def take(self, n: int) -> memoryview:
        self.offset += n
        view = self.views[self.index]
        if self.at + n <= len(view):
            out = view[self.at : self.at + n]
            self._advance(n)
            return out
        joined = bytearray()
        while len(joined) < n:
            view = self.views[self.index]
            take = min(n - len(joined), len(view) - self.at)
            joined += view[self.at : self.at + take]
            self._advance(take)
        return memoryview(bytes(joined))

    def _advance(self, n: int) -> None:
        self.at += n
        if self.at == len(self.views[self.index]):
            self.index, self.at = self.index + 1, 0


def state_id(blobs: Any, parts: Sequence[memoryview]) -> str:
    """The id ``store_state`` gives ``parts`` in ``blobs``, storing nothing: the SHA-256 of the manifest where
    ``blobs`` stores chunks, of the bytes where it stores whole files."""
    if chunk_store(blobs) is not None:
        return cut_parts(parts)[0].state_id
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def store_state(blobs: Any, parts: Sequence[memoryview], vocab: int = 0) -> tuple[str, int]:
    """Store the state file given as ``parts`` (of a space whose token vocabulary is ``vocab``, 0 for floats): as
    chunks where ``blobs`` has a ChunkStore (only the chunks not stored yet are written, as one pack, then the
    manifest), else whole. Returns (the state's id, the bytes of chunk data written anew: all of them for a whole
    file). Float values were checked finite by ``make_child``; token ids are checked here, in new chunks only."""
    chunks = chunk_store(blobs)
    if chunks is None:  # streamed from the tensors (no joined copy), hashed on the way, made visible atomically
        return blobs.put_stream(iter(parts)), sum(len(p) for p in parts)
    manifest, pieces, kinds = cut_parts(parts, vocab)
    have = {a: loc.checked for a, loc in chunks.locate(manifest.addresses, touch=True).items()}
    new: dict[str, Piece] = {}
    for a, piece, role in zip(manifest.addresses, pieces, kinds):
        if a in have or a in new:
            continue
        if role.tensor is not None and not role.tensor.dtype.floating:
            check_values(role.tensor, vocab, piece, role.begin)
        new[a] = Piece(piece, role.need)
    state = chunks.put(manifest, new, verified=True, located=have)  # cut_parts hashed every piece
    return state, sum(len(p.data) for p in new.values())
