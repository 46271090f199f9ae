"""Reading stored states: the tensors without extra copies, the header alone, or one row (crosses load their
parents, the rarity service the snapshots it scores, the market one vector).

``read_state`` reads a stored blob (hash-verified by the blob store on the way) into one buffer with
``BlobStore.read_into`` and views the tensors in place (``torch.frombuffer``): one copy from the store (the
local store reads the file straight into the buffer), none in decoding, where ``format.decode_state`` on
``BlobStore.read`` makes three (read, safetensors load, and the bytes object).
The blob was validated against its space when it was saved, so its header is trusted; every header is parsed
by ``multiverse.state.format`` all the same, and one that does not parse is Corrupt.

``read_header`` and ``read_row`` are ranged reads (``BlobStore.read_range``): they read the prefix and header,
then only the bytes asked for, so the blob's sha256 is NOT checked. What they return is checked only as far as
the header's structure goes; a caller that knows what a row must hash to (a token id) checks that.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from multiverse.blobs.base import BlobStore
from multiverse.errors import Corrupt, NotFound
from multiverse.state.format import STORED_HEADER_BYTES, Header, StateInfo, Tensor, stored_header, stored_info


class Row(NamedTuple):
    """Row ``index`` of a stored state's tensor ``tensor``: its raw little-endian values."""

    tensor: Tensor
    index: int
    raw: bytes


def read_state(blobs: BlobStore, digest: str, size: int) -> tuple[dict[str, torch.Tensor], StateInfo]:
    """The stored state ``digest`` of ``size`` bytes -> ({"frames", "players"} tensors, its metadata)."""
    buf = np.empty(size, dtype=np.uint8)  # not zero-filled: every byte is read into it
    view = memoryview(buf)
    pos = blobs.read_into(digest, view, verify=True)
    if pos != size:
        raise Corrupt(f"blob {digest} holds {pos} bytes, its record says {size}", digest=digest)
    header = stored_header(view)
    tensors = {t.name: _view(buf, header.data_start, t) for t in header.tensors}
    return tensors, stored_info(header)


def read_header(blobs: BlobStore, digest: str, size: int | None = None) -> Header:
    """A stored state's parsed header, read by two ranged reads (prefix, then JSON). ``size``: the blob's size
    when the caller has its record (else the store is asked)."""
    size = blobs.size(digest) if size is None else size
    prefix = blobs.read_range(digest, 0, min(8, size))
    n = int.from_bytes(prefix[:8].ljust(8, b"\0"), "little")
    if n > min(STORED_HEADER_BYTES, size - 8):  # stored_header names the problem; never read a wild length
        return stored_header(prefix, size)
    return stored_header(prefix + blobs.read_range(digest, 8, n), size)


def read_info(blobs: BlobStore, digest: str) -> StateInfo:
    """A stored state's metadata (players, timeline) from its header alone, without reading its tensors."""
    return stored_info(read_header(blobs, digest))


def read_row(blobs: BlobStore, digest: str, header: Header, name: str, index: int) -> Row:
    """Row ``index`` of tensor ``name`` of the stored state ``digest`` whose header is ``header``: one ranged read
    of that row's bytes (NotFound past the last row). Unverified: see the module's docstring."""
    t = header.tensor(name)
    if not 0 <= index < t.rows:
        raise NotFound(f"the state has {t.rows} rows of {name}; row {index} is past the end", tensor=name, index=index)
    raw = blobs.read_range(digest, header.data_start + t.begin + index * t.row_bytes, t.row_bytes)
    if len(raw) != t.row_bytes:
        raise Corrupt(f"blob {digest} ended inside row {index} of {name}", digest=digest)
    return Row(t, index, raw)


def _view(buf: np.ndarray, start: int, t: Tensor) -> torch.Tensor:
    """The tensor ``t`` viewed in ``buf`` (data from ``start``) without copying."""
    dtype = getattr(torch, t.dtype.name)
    count = (t.end - t.begin) // t.dtype.itemsize
    if count == 0:
        return torch.empty(t.shape, dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype, count=count, offset=start + t.begin).reshape(t.shape)
