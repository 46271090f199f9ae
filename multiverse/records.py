"""Plain, frozen records that cross the metadata port. No I/O here.

A snapshot record is to a state what a git commit is to a tree: the state (frames, timeline, players) is
one safetensors blob stored under its sha256; the record (world, parents, state hash, provenance, time)
has its own id, the sha256 of its canonical JSON (``snapshot_id``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

ROLE_ADMIN = "admin"
ROLE_SERVER = "server"
DEFAULT_HEAD = "main"
# Who may read a world besides its owner and admins: nobody, the principals it names, or every key holder.
PRIVATE, SHARED, PUBLIC = "private", "shared", "public"
VISIBILITIES = (PRIVATE, SHARED, PUBLIC)


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace: the bytes that ids are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class SpaceRecord:
    """A latent space: the identity of one world model's latent format."""

    name: str
    frame_shape: tuple[int, ...]
    dtype: str  # float16 | bfloat16 | float32 | uint8 | int16 | uint16 | int32 | int64
    player_dim: int
    model: str = ""
    version: str = ""
    vocab_size: int = 0  # > 0 for discrete (token id) spaces
    max_players: int = 256
    reference: dict[str, Any] = field(default_factory=dict)  # reference statistics (mean/std per channel, norm)
    decoder: str = ""  # optional name of a registered preview decoder
    created_at: float = 0.0

    @property
    def discrete(self) -> bool:
        return self.dtype not in ("float16", "bfloat16", "float32")


@dataclass(frozen=True)
class WorldRecord:
    name: str
    space: str
    owner: str  # principal name of the game server (or admin) that may write it
    created_at: float = 0.0
    description: str = ""
    origin: dict[str, Any] = field(default_factory=dict)  # a spawned world: {"recipe_sha256", "snapshot"}
    visibility: str = PRIVATE  # PRIVATE | SHARED | PUBLIC (multiverse.store.auth.can_read)
    readers: tuple[str, ...] = ()  # SHARED: the principals it is shared with, sorted, each once
    deleted_at: float | None = field(default=None, compare=False)  # an admin deleted it: hidden, heads gone


@dataclass(frozen=True)
class SnapshotRecord:
    id: str
    world: str
    parents: tuple[str, ...]
    state: str  # the state's id: sha256 of its chunk manifest (multiverse.chunks), or of its bytes for older states
    state_size: int
    frame_count: int
    player_count: int
    generation: int  # 1 + max(parent generations); 1 for a root
    created_at: float
    provenance: dict[str, Any] = field(default_factory=dict)  # operator, params, seed, code version, labels
    # Kept beside the record, not part of its id: when an admin pruned its state (None: kept), and its place in
    # the metadata's commit order (None until committed).
    pruned_at: float | None = field(default=None, compare=False)
    seq: int | None = field(default=None, compare=False)

    def sealed(self) -> SnapshotRecord:
        """This record with its id set to the sha256 of its body: the one place a snapshot's id is computed."""
        return replace(self, id=snapshot_id(self.body()))

    def body(self) -> dict[str, Any]:
        """The fields the id is computed over (everything but the id)."""
        return {
            "world": self.world,
            "parents": list(self.parents),
            "state": self.state,
            "state_size": self.state_size,
            "frame_count": self.frame_count,
            "player_count": self.player_count,
            "generation": self.generation,
            "created_at": self.created_at,
            "provenance": self.provenance,
        }


def snapshot_id(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str  # public key id (the part of the token before the secret)
    principal: str  # who the key speaks for: "admin" or a game server's name
    role: str  # ROLE_ADMIN | ROLE_SERVER
    secret_hash: str  # sha256 hex of the secret; the secret itself is never stored
    created_at: float = 0.0
    revoked: bool = False
