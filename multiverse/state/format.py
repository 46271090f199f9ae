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
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import torch

from multiverse import jsonsafe
from multiverse.errors import Corrupt, InvalidArgument
from multiverse.state.spaces import BY_CODE, DTYPES, DType

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


HEADER_FIX = "send a safetensors file as written by multiverse.state.format.encode_state or safetensors.torch.save"
TENSOR_NAMES = ("frames", "players")  # exactly these, in this order of data
MAX_RANK = 8  # dimensions of one tensor's shape


@dataclass(frozen=True)
class Tensor:
    """One tensor of the header: its dtype, shape and data bytes ``[begin, end)`` counted from the data start."""

    name: str
    dtype: DType
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 0

    @property
    def row_bytes(self) -> int:
        """Bytes of one row (``shape[1:]``): rows are contiguous slices of the data."""
        return math.prod(self.shape[1:]) * self.dtype.itemsize


@dataclass(frozen=True)
class Header:
    """A state file's parsed header: ``length`` JSON bytes after the 8-byte prefix, the tensors ``frames`` and
    ``players`` and the raw ``__metadata__`` (None when absent; ``parse_metadata`` checks it)."""

    length: int
    tensors: tuple[Tensor, ...]  # in data order
    metadata: Any

    @property
    def data_start(self) -> int:
        """The file offset of the first data byte."""
        return 8 + self.length

    def tensor(self, name: str) -> Tensor:
        return next(t for t in self.tensors if t.name == name)


def parse_length(prefix: bytes | memoryview, *, size: int, max_bytes: int) -> int:
    """The JSON header's length from a file's first 8 bytes (little-endian u64), refused (InvalidArgument on
    ``state.header_length``) over ``max_bytes`` or past the ``size``-byte file, before any of it is read."""
    if size < 8 or len(prefix) < 8:
        raise InvalidArgument("state", f"{size} bytes", HEADER_FIX, reason="the state file is too short to be safetensors")
    (n,) = struct.unpack_from("<Q", prefix, 0)
    if n > max_bytes:
        raise InvalidArgument("state.header_length", n,
                              f"the header (tensor table and metadata) may be at most {max_bytes} bytes (the "
                              "server's cap): keep fewer or shorter guidance texts and player records in one state")
    if n > size - 8:
        raise InvalidArgument("state.header_length", n, f"the header must fit in the file ({size} bytes); {HEADER_FIX}")
    return n


def parse_header(raw: bytes | memoryview, *, size: int, max_bytes: int) -> Header:
    """The header of a ``size``-byte state file from its JSON bytes ``raw`` (after the 8-byte prefix), parsed
    within jsonsafe's bounds: exactly the tensors ``frames`` and ``players``, each with a known dtype code, a
    shape of at most MAX_RANK counts and offsets that hold it, contiguous and covering the data. The metadata is
    kept raw (``parse_metadata``). Raises InvalidArgument naming the field."""
    header = jsonsafe.loads(raw, field="state.header", max_bytes=max_bytes)
    if not isinstance(header, dict):
        raise InvalidArgument("state.header", type(header).__name__, f"the header must be a JSON object; {HEADER_FIX}")
    meta = header.pop("__metadata__", None)
    if set(header) != set(TENSOR_NAMES):
        raise InvalidArgument("state.tensors", sorted(header)[:8], "a state holds exactly two tensors: frames and players")
    tensors = sorted((_tensor(name, spec) for name, spec in header.items()), key=lambda t: (t.begin, t.end))
    data_len, cursor = size - 8 - len(raw), 0
    for t in tensors:
        if t.begin != cursor:
            raise InvalidArgument(f"state.{t.name}.data_offsets", [t.begin, t.end], "tensor data must be contiguous, without gaps or overlaps")
        cursor = t.end
    if cursor != data_len:
        raise InvalidArgument("state", f"{data_len} data bytes", f"the tensors cover {cursor} bytes: the file is truncated or has trailing bytes")
    return Header(len(raw), tuple(tensors), meta)


def stored_header(data: bytes | memoryview, size: int | None = None) -> Header:
    """The header of a stored state whose bytes begin with ``data`` (at least its prefix and JSON header; the
    whole file when ``size`` is None). A stored state was validated when it was saved, so a header that does
    not parse is damage: Corrupt, not the caller's bad input."""
    size = len(data) if size is None else size
    try:
        n = parse_length(data, size=size, max_bytes=STORED_HEADER_BYTES)
        if len(data) < 8 + n:
            raise Corrupt(f"a stored state's header ({n} bytes) runs past the {len(data)} bytes read", field="state.header")
        return parse_header(memoryview(data)[8 : 8 + n], size=size, max_bytes=STORED_HEADER_BYTES)
    except InvalidArgument as exc:
        raise Corrupt(f"a stored state's header cannot be read: {exc.message}", field=exc.field) from None


def frame_json(value: Any, *, pad: bool) -> bytes:
    """``value`` as canonical JSON (sorted keys, no spaces) after its 8-byte little-endian length; ``pad``: with
    spaces to a multiple of 8 bytes, as a state file's header is (a vector's canonical bytes are not padded)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def encode_header(tensors: list[tuple[str, str, tuple[int, ...], int]], metadata: dict[str, str]) -> bytes:
    """The canonical header bytes (prefix and padded JSON) for ``(name, dtype code, shape, nbytes)`` tensors laid
    out in that order and the ``__metadata__`` strings."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, code, shape, nbytes in tensors:
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    return frame_json(header, pad=True)


def encode_metadata(*, space: str, players: list[dict[str, Any]], timeline: list[dict[str, Any]]) -> dict[str, str]:
    """The ``__metadata__`` strings of a state: players and timeline as canonical JSON text."""
    return {
        "format": STATE_FORMAT,
        "space": space,
        "players": json.dumps(players, sort_keys=True, separators=(",", ":")),
        "timeline": json.dumps(timeline, sort_keys=True, separators=(",", ":")),
    }


def _tensor(name: str, spec: Any) -> Tensor:
    field_ = f"state.{name}"
    if not isinstance(spec, dict):
        raise InvalidArgument(field_, spec, 'describe the tensor as {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}')
    code = spec.get("dtype")
    if not isinstance(code, str) or code not in BY_CODE:  # a list or object here is unhashable: check the type first
        raise InvalidArgument(f"{field_}.dtype", code, f"use one of {', '.join(BY_CODE)}")
    shape, offsets = spec.get("shape"), spec.get("data_offsets")
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(_count(d) for d in shape):
        raise InvalidArgument(f"{field_}.shape", shape, f"use a list of at most {MAX_RANK} non-negative integers (not true/false)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(o) for o in offsets)):
        raise InvalidArgument(f"{field_}.data_offsets", offsets, "use [begin, end]: two non-negative integer byte offsets")
    dtype = BY_CODE[code]
    if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
        raise InvalidArgument(f"{field_}.data_offsets", offsets,
                              f"shape {shape} of {dtype.name} needs {math.prod(shape) * dtype.itemsize} bytes")
    return Tensor(name, dtype, tuple(shape), offsets[0], offsets[1])


def _count(value: Any) -> bool:
    """A non-negative JSON integer; true and false are ints to Python but not counts."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
    table, blobs = [], []
    for name, tensor in zip(TENSOR_NAMES, (frames, player_vectors)):
        raw = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()  # a view, not a copy
        table.append((name, DTYPES[str(tensor.dtype).removeprefix("torch.")].code, tuple(tensor.shape), len(raw)))
        blobs.append(raw)
    head = encode_header(table, encode_metadata(space=space, players=players, timeline=timeline))
    return [memoryview(head), *(memoryview(b) for b in blobs)]


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


def stored_info(header: Header) -> StateInfo:
    """The StateInfo of a stored state's parsed header. A stored state breaking the format (saved before the
    validator required it, or damaged) is Corrupt, not the caller's bad input."""
    try:
        space, players, timeline = parse_metadata(header.metadata, max_bytes=STORED_HEADER_BYTES)
    except InvalidArgument as exc:
        raise Corrupt(f"a stored state breaks the state format: {exc.message}", field=exc.field) from None
    return StateInfo(space, header.tensor("frames").rows, len(players), players, timeline)


def decode_state(data: bytes) -> tuple[dict[str, Any], StateInfo]:
    """Tensors and metadata of a state file that was validated when it was saved (a stored blob)."""
    from safetensors.torch import load

    header = stored_header(data)
    return load(data), stored_info(header)
