"""Rare vectors as tradeable bytes: where a vector lives, its canonical bytes (whose sha256 is the token id,
defined in multiverse.state.vectors) and who discovered it. ``extract`` reads one row of a stored state.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from multiverse.errors import InvalidArgument, NotFound
from multiverse.state.vectors import canonical_bytes

KINDS = ("frame", "player")
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
    """Inverse of ``canonical_bytes``: (dtype code, shape, raw values)."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    return header["dtype"], tuple(header["shape"]), data[8 + n :]


def player_wallet(player: dict[str, Any]) -> str | None:
    """The wallet a player record names: its ``wallet`` field, else ``stats.wallet``; None if neither is an address."""
    for value in (player.get("wallet"), (player.get("stats") or {}).get("wallet")):
        if isinstance(value, str) and _ADDRESS.match(value):
            return value
    return None


def extract(ref: VectorRef, state: bytes, world: str) -> Vector:
    """The vector ``ref`` names, from a stored (validated) state file."""
    import torch

    from multiverse.state.format import decode_state
    from multiverse.state.spaces import DTYPES

    tensors, info = decode_state(state)
    if info.space != ref.space:
        raise InvalidArgument(
            "space", ref.space, f"snapshot {ref.snapshot} is in latent space {info.space!r}: name that space"
        )
    rows = tensors["frames"] if ref.kind == "frame" else tensors["players"]
    if ref.index >= rows.shape[0]:
        raise NotFound(
            f"snapshot {ref.snapshot} has {rows.shape[0]} {ref.kind} vectors; index {ref.index} is past the end",
            snapshot=ref.snapshot,
            kind=ref.kind,
            index=ref.index,
        )
    row = rows[ref.index].contiguous()
    code = DTYPES[str(row.dtype).removeprefix("torch.")].code
    raw = row.view(-1).view(torch.uint8).numpy().tobytes()
    wallet = player_wallet(info.players[ref.index]) if ref.kind == "player" else None
    return Vector(ref, code, tuple(row.shape), canonical_bytes(code, tuple(row.shape), raw), world, wallet)
