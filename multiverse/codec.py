"""The snapshot state file: one safetensors file holding a world's state. Never pickle.

Layout (safetensors: 8-byte little-endian header length, JSON header, raw little-endian row-major data):
  tensors   frames   [T, *frame_shape]  the space's dtype (float, or integer token ids)
            players  [P, player_dim]    float16 | bfloat16 | float32; row i is players[i]'s vector
  metadata  format   "multiverse.state/1"
            space    the latent space's name
            players  JSON list of {uuid, name, stats, wallet?}   (see multiverse.players)
            timeline JSON list of {frame, text}, in frame order

The file is stored byte for byte under its sha256. ``multiverse.validate`` checks an untrusted one against its
space as it streams in; this module writes and reads trusted ones.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import torch

from multiverse.spaces import DTYPES

STATE_FORMAT = "multiverse.state/1"


@dataclass(frozen=True)
class StateInfo:
    """What validation learned about a state file."""

    space: str
    frame_count: int
    player_count: int
    players: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def encode_state(
    frames: Any, player_vectors: Any, *, space: str, players: list[dict[str, Any]], timeline: list[dict[str, Any]]
) -> bytes:
    """The canonical state file bytes for torch tensors: equal states give equal bytes.

    The header is JSON with sorted keys and no spaces, padded with spaces to a multiple of 8 bytes (as
    safetensors does); ``safetensors.torch.save`` itself orders ``__metadata__`` differently from run to run,
    which would give one state several hashes."""
    return b"".join(encode_state_parts(frames, player_vectors, space=space, players=players, timeline=timeline))


def encode_state_parts(
    frames: Any, player_vectors: Any, *, space: str, players: list[dict[str, Any]], timeline: list[dict[str, Any]]
) -> list[memoryview]:
    """``encode_state``'s bytes as three pieces (header, frames, players) viewing the tensors without a copy:
    for a writer that streams them (``BlobStore.put_stream``) instead of joining them."""
    meta = {
        "format": STATE_FORMAT,
        "space": space,
        "players": json.dumps(players, sort_keys=True, separators=(",", ":")),
        "timeline": json.dumps(timeline, sort_keys=True, separators=(",", ":")),
    }
    header: dict[str, Any] = {"__metadata__": meta}
    blobs, offset = [], 0
    for name, tensor in (("frames", frames), ("players", player_vectors)):
        raw = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()  # a view, not a copy
        code = DTYPES[str(tensor.dtype).removeprefix("torch.")].code
        header[name] = {"dtype": code, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return [memoryview(struct.pack("<Q", len(text)) + text), *(memoryview(b) for b in blobs)]


def decode_state(data: bytes) -> tuple[dict[str, Any], StateInfo]:
    """Tensors and metadata of a state file that was validated when it was saved (a stored blob)."""
    from safetensors.torch import load

    n = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8 : 8 + n]).get("__metadata__", {})
    tensors = load(data)
    players, timeline = json.loads(meta["players"]), json.loads(meta["timeline"])
    info = StateInfo(meta["space"], tensors["frames"].shape[0], len(players), players, timeline)
    return tensors, info
