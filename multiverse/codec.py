"""The snapshot state file: one safetensors file holding a world's state. Never pickle.

Layout (safetensors: 8-byte little-endian header length, JSON header, raw little-endian row-major data):
  tensors   frames   [T, *frame_shape]  the space's dtype (float, or integer token ids)
            players  [P, player_dim]    float16 | bfloat16 | float32; row i is players[i]'s vector
  metadata  format   "multiverse.state/1"
            space    the latent space's name
            players  JSON list of {uuid, name, stats, wallet?}   (see multiverse.players)
            timeline JSON list of {frame, text}, in frame order

The file is stored byte for byte under its sha256. ``inspect_state`` validates an untrusted file against
its space without loading it whole (the header is parsed here, the data scanned in chunks).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from multiverse.config import Limits
from multiverse.errors import InvalidArgument
from multiverse.players import validate_players, validate_timeline
from multiverse.records import SpaceRecord
from multiverse.spaces import BY_CODE, DTYPES, FLOAT_DTYPES, DType

STATE_FORMAT = "multiverse.state/1"
MAX_HEADER = 100 * 1000 * 1000  # safetensors' own cap
SCAN_BYTES = 8 << 20


@dataclass(frozen=True)
class StateInfo:
    """What validation learned about a state file."""

    space: str
    frame_count: int
    player_count: int
    players: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Tensor:
    name: str
    dtype: DType
    shape: tuple[int, ...]
    begin: int
    end: int


def encode_state(
    frames: Any, player_vectors: Any, *, space: str, players: list[dict[str, Any]], timeline: list[dict[str, Any]]
) -> bytes:
    """The canonical state file bytes for torch tensors: equal states give equal bytes.

    The header is JSON with sorted keys and no spaces, padded with spaces to a multiple of 8 bytes (as
    safetensors does); ``safetensors.torch.save`` itself orders ``__metadata__`` differently from run to run,
    which would give one state several hashes."""
    meta = {
        "format": STATE_FORMAT,
        "space": space,
        "players": json.dumps(players, sort_keys=True, separators=(",", ":")),
        "timeline": json.dumps(timeline, sort_keys=True, separators=(",", ":")),
    }
    header: dict[str, Any] = {"__metadata__": meta}
    blobs, offset = [], 0
    for name, tensor in (("frames", frames), ("players", player_vectors)):
        raw = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        code = DTYPES[str(tensor.dtype).removeprefix("torch.")].code
        header[name] = {"dtype": code, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text, *blobs])


def decode_state(data: bytes) -> tuple[dict[str, Any], StateInfo]:
    """Tensors and metadata of a state file that was validated when it was saved (a stored blob)."""
    from safetensors.torch import load

    n = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8 : 8 + n]).get("__metadata__", {})
    tensors = load(data)
    players, timeline = json.loads(meta["players"]), json.loads(meta["timeline"])
    info = StateInfo(meta["space"], tensors["frames"].shape[0], len(players), players, timeline)
    return tensors, info


def inspect_state(path: Path, space: SpaceRecord, limits: Limits) -> StateInfo:
    """Validate the state file at ``path`` against ``space``; raise InvalidArgument naming the first problem."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        tensors, meta, data_start = _read_header(f, size)
        frames, players_t = _check_tensors(tensors, space, limits)
        info = _check_metadata(meta, space, frames.shape[0], players_t.shape[0], limits)
        _scan(f, data_start, frames, space)
        _scan(f, data_start, players_t, space)
    return info


def _read_header(f: BinaryIO, size: int) -> tuple[dict[str, _Tensor], dict[str, str], int]:
    fix = "send a safetensors file as written by multiverse.codec.encode_state or safetensors.torch.save"
    if size < 8:
        raise InvalidArgument("state", f"{size} bytes", fix, reason="the state file is too short to be safetensors")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > MAX_HEADER or n > size - 8:
        raise InvalidArgument("state.header_length", n, f"the header must fit in the file ({size} bytes) and 100 MB; {fix}")
    try:
        header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument("state.header", str(exc), f"the header must be JSON; {fix}") from None
    if not isinstance(header, dict):
        raise InvalidArgument("state.header", type(header).__name__, f"the header must be a JSON object; {fix}")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise InvalidArgument("state.__metadata__", meta, "metadata must map strings to strings")
    if set(header) != {"frames", "players"}:
        raise InvalidArgument("state.tensors", sorted(header), "a state holds exactly two tensors: frames and players")
    tensors = {name: _tensor(name, spec) for name, spec in header.items()}
    data_len, cursor = size - 8 - n, 0
    for t in sorted(tensors.values(), key=lambda t: (t.begin, t.end)):
        if t.begin != cursor:
            raise InvalidArgument(f"state.{t.name}.data_offsets", [t.begin, t.end], "tensor data must be contiguous, without gaps or overlaps")
        cursor = t.end
    if cursor != data_len:
        raise InvalidArgument("state", f"{data_len} data bytes", f"the tensors cover {cursor} bytes: the file is truncated or has trailing bytes")
    return tensors, meta, 8 + n


def _tensor(name: str, spec: Any) -> _Tensor:
    field_ = f"state.{name}"
    if not isinstance(spec, dict) or spec.get("dtype") not in BY_CODE:
        raise InvalidArgument(f"{field_}.dtype", (spec or {}).get("dtype") if isinstance(spec, dict) else spec,
                              f"use one of {', '.join(BY_CODE)}")
    shape, offsets = spec.get("shape"), spec.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidArgument(f"{field_}.shape", shape, "use a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and o >= 0 for o in offsets)):
        raise InvalidArgument(f"{field_}.data_offsets", offsets, "use [begin, end] byte offsets")
    dtype = BY_CODE[spec["dtype"]]
    if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
        raise InvalidArgument(f"{field_}.data_offsets", offsets,
                              f"shape {shape} of {dtype.name} needs {math.prod(shape) * dtype.itemsize} bytes")
    return _Tensor(name, dtype, tuple(shape), offsets[0], offsets[1])


def _check_tensors(tensors: dict[str, _Tensor], space: SpaceRecord, limits: Limits) -> tuple[_Tensor, _Tensor]:
    frames, players = tensors["frames"], tensors["players"]
    if frames.dtype.name != space.dtype:
        raise InvalidArgument("state.frames.dtype", frames.dtype.name,
                              f"latent space {space.name} stores {space.dtype}: convert the frames to {space.dtype}")
    expected = tuple(space.frame_shape)
    if len(frames.shape) != len(expected) + 1 or frames.shape[1:] != expected:
        want = ", ".join(str(d) for d in expected)
        raise InvalidArgument("state.frames.shape", frames.shape,
                              f"latent space {space.name} expects (T, {want})", reason=f"frames has shape {frames.shape}")
    if not 1 <= frames.shape[0] <= limits.max_frames:
        raise InvalidArgument("state.frames.shape[0]", frames.shape[0], f"send 1 to {limits.max_frames} frames")
    if players.dtype.name not in FLOAT_DTYPES:
        raise InvalidArgument("state.players.dtype", players.dtype.name, f"player vectors are floats: use one of {', '.join(FLOAT_DTYPES)}")
    if len(players.shape) != 2 or players.shape[1] != space.player_dim:
        raise InvalidArgument("state.players.shape", players.shape,
                              f"latent space {space.name} expects (P, {space.player_dim}): one row per player")
    return frames, players


def _check_metadata(meta: dict[str, str], space: SpaceRecord, frame_count: int, player_count: int, limits: Limits) -> StateInfo:
    if meta.get("format") != STATE_FORMAT:
        raise InvalidArgument("state.__metadata__.format", meta.get("format"), f'set it to "{STATE_FORMAT}"')
    if meta.get("space") != space.name:
        raise InvalidArgument("state.__metadata__.space", meta.get("space"),
                              f"this world lives in latent space {space.name}: save states of that space")
    parsed = {}
    for key in ("players", "timeline"):
        try:
            parsed[key] = json.loads(meta.get(key, "[]"))
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"state.__metadata__.{key}", str(exc), "use a JSON list") from None
    players = validate_players(parsed["players"], max_players=min(space.max_players, limits.max_players), limits=limits)
    if len(players) != player_count:
        raise InvalidArgument("state.players.shape[0]", player_count,
                              f"there are {len(players)} players in the metadata: send one vector row per player")
    timeline = validate_timeline(parsed["timeline"], frame_count=frame_count, limits=limits)
    return StateInfo(space.name, frame_count, player_count, players, timeline)


def _scan(f: BinaryIO, data_start: int, t: _Tensor, space: SpaceRecord) -> None:
    """Scan one tensor's bytes in chunks: no NaN/Inf in floats; token ids inside the vocabulary."""
    dt = t.dtype
    bits = np.dtype(f"<u{dt.itemsize}") if dt.floating else np.dtype(dt.name).newbyteorder("<")
    step = (SCAN_BYTES // dt.itemsize) * dt.itemsize
    f.seek(data_start + t.begin)
    done, total = 0, t.end - t.begin
    while done < total:
        buf = f.read(min(step, total - done))
        a = np.frombuffer(buf, dtype=bits)
        if dt.floating:
            bad = np.flatnonzero((a & dt.nonfinite_mask) == dt.nonfinite_mask)
            if bad.size:
                at = np.unravel_index(done // dt.itemsize + int(bad[0]), t.shape)
                raise InvalidArgument(f"state.{t.name}", f"NaN or Inf at index {tuple(int(i) for i in at)}",
                                      "send finite values only (check the model's output for overflow)")
        elif a.size and (int(a.min()) < 0 or int(a.max()) >= space.vocab_size):
            raise InvalidArgument(f"state.{t.name}", f"token ids from {int(a.min())} to {int(a.max())}",
                                  f"latent space {space.name} has token ids 0..{space.vocab_size - 1}")
        done += len(buf)
