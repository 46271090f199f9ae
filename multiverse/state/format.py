"""The snapshot state file: one safetensors file holding a world's state. Never pickle.

Layout (safetensors: 8-byte little-endian header length, JSON header, raw little-endian row-major data):
  tensors   frames   [T, *frame_shape]  the space's dtype (float, or integer token ids)
            players  [P, player_dim]    float16 | bfloat16 | float32; row i is players[i]'s vector
  metadata  format   "multiverse.state/1"
            space    the latent space's name
            players  JSON list of {uuid, name, stats, wallet?}   (see multiverse.state.players)
            timeline JSON list of {frame, text}, in frame order

Every metadata key above is required; ``parse_metadata`` is the one definition of their shapes, used by the
validator and by every reader. The file is stored byte for byte under its sha256. ``multiverse.state.validate``
checks an untrusted one against its space as it streams in; this module writes and reads trusted ones.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import torch

from multiverse import jsonsafe
from multiverse.errors import Corrupt, InvalidArgument
from multiverse.state.spaces import DTYPES

STATE_FORMAT = "multiverse.state/1"
# The metadata every state carries, each key required and a string: key -> what its string must hold.
METADATA_KEYS = {
    "format": f'"{STATE_FORMAT}"',
    "space": "the name of the world's latent space",
    "players": 'a JSON list of {"uuid", "name", "stats"} objects ([] for none)',
    "timeline": 'a JSON list of {"frame", "text"} objects in frame order ([] for none)',
}
META = "state.__metadata__"
STORED_HEADER_BYTES = 100 * 1000 * 1000  # safetensors' own cap: a reader's bound for headers stored before ours


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


def parse_metadata(meta: Any, *, max_bytes: int) -> tuple[str, list[Any], list[Any]]:
    """(space, players, timeline) from a header's ``__metadata__``: a JSON object of strings holding every key of
    METADATA_KEYS, format STATE_FORMAT, players and timeline JSON lists (bounded by ``max_bytes`` and
    jsonsafe's depth). The players' and texts' schema is ``multiverse.state.players``'. Raises InvalidArgument naming
    ``state.__metadata__`` or ``state.__metadata__.<key>``."""
    if not isinstance(meta, dict):
        raise InvalidArgument(META, "missing" if meta is None else type(meta).__name__,
                              f"the header needs a __metadata__ object with {', '.join(METADATA_KEYS)}")
    for key, what in METADATA_KEYS.items():
        if key not in meta:
            raise InvalidArgument(f"{META}.{key}", "missing", f"every state's metadata holds {key}: {what}")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise InvalidArgument(f"{META}.{str(key)[:64]}", type(value).__name__,
                                  "metadata maps strings to strings (players and timeline are JSON text)")
    if meta["format"] != STATE_FORMAT:
        raise InvalidArgument(f"{META}.format", meta["format"], f'set it to "{STATE_FORMAT}"')
    lists = []
    for key in ("players", "timeline"):
        value = jsonsafe.loads(meta[key], field=f"{META}.{key}", max_bytes=max_bytes)
        if not isinstance(value, list):
            raise InvalidArgument(f"{META}.{key}", type(value).__name__, f"use {METADATA_KEYS[key]}")
        lists.append(value)
    return meta["space"], lists[0], lists[1]


def stored_info(header: Any, frame_count: int) -> StateInfo:
    """The StateInfo of a stored state's parsed header. A stored state breaking the format (saved before the
    validator required it, or damaged) is Corrupt, not the caller's bad input."""
    try:
        space, players, timeline = parse_metadata(header.get("__metadata__") if isinstance(header, dict) else None,
                                                  max_bytes=STORED_HEADER_BYTES)
    except InvalidArgument as exc:
        raise Corrupt(f"a stored state breaks the state format: {exc.message}", field=exc.field) from None
    return StateInfo(space, frame_count, len(players), players, timeline)


def stored_header(raw: bytes | memoryview) -> dict[str, Any]:
    """A stored state's JSON header, parsed within jsonsafe's bounds (Corrupt if it is not a JSON object)."""
    try:
        header = jsonsafe.loads(raw, field="state.header", max_bytes=STORED_HEADER_BYTES)
    except InvalidArgument as exc:
        raise Corrupt(f"a stored state's header cannot be read: {exc.message}", field=exc.field) from None
    if not isinstance(header, dict):
        raise Corrupt(f"a stored state's header is a JSON {type(header).__name__}, not an object", field="state.header")
    return header


def decode_state(data: bytes) -> tuple[dict[str, Any], StateInfo]:
    """Tensors and metadata of a state file that was validated when it was saved (a stored blob)."""
    from safetensors.torch import load

    n = struct.unpack("<Q", data[:8])[0]
    header = stored_header(data[8 : 8 + n])
    tensors = load(data)
    return tensors, stored_info(header, tensors["frames"].shape[0])
