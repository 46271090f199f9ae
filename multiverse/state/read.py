"""Reading stored states: the tensors without extra copies, or the metadata alone (crosses load their parents,
the rarity service the snapshots it scores).

``read_state`` reads a stored blob (hash-verified by the blob store on the way) into one buffer with
``BlobStore.read_into`` and views the tensors in place (``torch.frombuffer``): one copy from the store (the
local store reads the file straight into the buffer), none in decoding, where ``codec.decode_state`` on
``BlobStore.read`` makes three (read, safetensors load, and the bytes object).
The blob was validated against its space when it was saved, so its header is trusted.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import torch

from multiverse.blobs.base import BlobStore
from multiverse.errors import Corrupt
from multiverse.state.format import StateInfo, stored_header, stored_info
from multiverse.state.spaces import BY_CODE


def read_state(blobs: BlobStore, digest: str, size: int) -> tuple[dict[str, torch.Tensor], StateInfo]:
    """The stored state ``digest`` of ``size`` bytes -> ({"frames", "players"} tensors, its metadata)."""
    buf = np.empty(size, dtype=np.uint8)  # not zero-filled: every byte is read into it
    view = memoryview(buf)
    pos = blobs.read_into(digest, view, verify=True)
    if pos != size:
        raise Corrupt(f"blob {digest} holds {pos} bytes, its record says {size}", digest=digest)
    n = struct.unpack_from("<Q", buf, 0)[0]
    header = stored_header(view[8:8 + n])
    info = _info(header)
    tensors = {name: _view(buf, 8 + n, header[name]) for name in ("frames", "players")}
    return tensors, info


def read_info(blobs: BlobStore, digest: str) -> StateInfo:
    """A stored state's metadata (players, timeline) from its header alone, without reading its tensors."""
    head = bytearray()
    need = 8
    for chunk in blobs.open_chunks(digest, 1 << 16, verify=False):
        head += chunk
        if len(head) >= 8:
            need = 8 + struct.unpack_from("<Q", head, 0)[0]
        if len(head) >= need:
            break
    return _info(stored_header(head[8:need]))


def _view(buf: np.ndarray, start: int, spec: dict[str, Any]) -> torch.Tensor:
    """The tensor ``spec`` (safetensors header entry) viewed in ``buf`` without copying."""
    dtype = getattr(torch, BY_CODE[spec["dtype"]].name)
    lo, hi = spec["data_offsets"]
    count = (hi - lo) // torch.empty(0, dtype=dtype).element_size()
    if count == 0:
        return torch.empty(spec["shape"], dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype, count=count, offset=start + lo).reshape(spec["shape"])


def _info(header: dict[str, Any]) -> StateInfo:
    try:
        frame_count = int(header["frames"]["shape"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        raise Corrupt("a stored state's header has no frames tensor with a shape", field="state.frames") from None
    return stored_info(header, frame_count)
