"""Rare vectors as tradeable bytes: where a vector lives, its canonical bytes (whose sha256 is the token id,
defined in multiverse.state.vectors) and who discovered it. ``read_vector`` reads one row of a stored state
(ranged reads), ``extract`` one row of a state in memory.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from multiverse import jsonsafe
from multiverse.blobs.base import BlobStore
from multiverse.errors import InvalidArgument, NotFound
from multiverse.state.format import Header, Tensor, stored_header, stored_info
from multiverse.state.read import read_header, read_row
from multiverse.state.spaces import BY_CODE
from multiverse.state.vectors import canonical_bytes

KINDS = ("frame", "player")
TENSOR = {"frame": "frames", "player": "players"}  # vector kind -> the state's tensor
MAX_VECTOR_HEADER = 4096  # a canonical vector header is {"dtype", "shape"}: a few dozen bytes
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class VectorRef:
    """Row ``index`` of kind ``kind`` ("frame" | "player") in snapshot ``snapshot`` of latent space ``space``."""

    space: str
    snapshot: str
    kind: str
    index: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgument("kind", self.kind, f"use one of {', '.join(KINDS)}")
        if not isinstance(self.index, int) or not 0 <= self.index < 2**32:
            raise InvalidArgument("index", self.index, "give the vector's row index, 0 <= index < 2**32")
        if not isinstance(self.snapshot, str) or not re.fullmatch(r"[0-9a-f]{64}", self.snapshot):
            raise InvalidArgument(
                "snapshot", self.snapshot, "give the snapshot's full id: 64 lower-case hex digits"
            )


@dataclass(frozen=True)
class Vector:
    """A vector's canonical bytes and facts about it. ``player_wallet``: for a player vector, the wallet in that
    player's record (or stats); ``world``: the snapshot's world (for frames, its owner is the discoverer)."""

    ref: VectorRef
    dtype: str  # safetensors code, e.g. F16
    shape: tuple[int, ...]
    data: bytes  # canonical bytes
    world: str
    player_wallet: str | None

    @property
    def token_id(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def parse_canonical(data: bytes) -> tuple[str, tuple[int, ...], bytes]:
    """Inverse of ``canonical_bytes``: (dtype code, shape, raw values). Untrusted bytes (a download, a file): a
    malformed one is InvalidArgument naming ``vector``."""
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 <= n <= len(data) - 8:
        raise InvalidArgument("vector", f"{len(data)} bytes", "pass a vector's canonical bytes: 8-byte length, JSON, values")
    header = jsonsafe.loads(data[8 : 8 + n], field="vector.header", max_bytes=MAX_VECTOR_HEADER)
    dtype, shape = (header.get("dtype"), header.get("shape")) if isinstance(header, dict) else (None, None)
    if dtype not in BY_CODE or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidArgument("vector.header", header, 'use {"dtype": <code>, "shape": [<counts>]}')
    return dtype, tuple(shape), data[8 + n :]


def player_wallet(player: dict[str, Any]) -> str | None:
    """The wallet a player record names: its ``wallet`` field, else ``stats.wallet``; None if neither is an address."""
    for value in (player.get("wallet"), (player.get("stats") or {}).get("wallet")):
        if isinstance(value, str) and _ADDRESS.match(value):
            return value
    return None


def extract(ref: VectorRef, state: bytes, world: str) -> Vector:
    """The vector ``ref`` names, from a whole stored (validated) state file in memory."""
    header = stored_header(state)
    if not 0 <= ref.index < header.tensor(TENSOR[ref.kind]).rows:
        _past_end(ref, header)
    t = header.tensor(TENSOR[ref.kind])
    at = header.data_start + t.begin + ref.index * t.row_bytes
    return _vector(ref, header, t, bytes(state[at : at + t.row_bytes]), world)


def read_vector(blobs: BlobStore, digest: str, size: int, ref: VectorRef, world: str) -> Vector:
    """The vector ``ref`` names, from the stored state ``digest`` of ``size`` bytes by ranged reads: its header,
    then that row's bytes alone (not the whole state). The state's sha256 is not checked (a ranged read cannot);
    the row is checked where its id is known: ``Market.download`` against the token id, a claim against the
    discovery recorded (from the whole, verified state) when it was committed."""
    header = read_header(blobs, digest, size)
    if not 0 <= ref.index < header.tensor(TENSOR[ref.kind]).rows:
        _past_end(ref, header)
    row = read_row(blobs, digest, header, TENSOR[ref.kind], ref.index)
    return _vector(ref, header, row.tensor, row.raw, world)


def _vector(ref: VectorRef, header: Header, t: Tensor, raw: bytes, world: str) -> Vector:
    info = stored_info(header)
    if info.space != ref.space:
        raise InvalidArgument(
            "space", ref.space, f"snapshot {ref.snapshot} is in latent space {info.space!r}: name that space"
        )
    wallet = player_wallet(info.players[ref.index]) if ref.kind == "player" else None
    shape = t.shape[1:]
    return Vector(ref, t.dtype.code, shape, canonical_bytes(t.dtype.code, shape, raw), world, wallet)


def _past_end(ref: VectorRef, header: Header) -> None:
    rows = header.tensor(TENSOR[ref.kind]).rows
    raise NotFound(
        f"snapshot {ref.snapshot} has {rows} {ref.kind} vectors; index {ref.index} is past the end",
        snapshot=ref.snapshot,
        kind=ref.kind,
        index=ref.index,
    )
