"""The metadata schema as SQLModel tables. ``migrations/versions`` creates exactly these (a test compares them).

Conventions: ids and names are text; JSON-ish fields (frame shape, reference statistics, provenance) are
canonical JSON text (sorted keys, no whitespace) so both databases store the same bytes; timestamps are
float seconds since the epoch in double precision.

Lineage lives in two tables: ``snapshots`` holds each record with its ``generation`` (1 + max of its
parents'), and ``snapshot_parents`` holds one row per parent edge with the parent's ``position`` in the
record's parent tuple. Walks (log, merge bases) pop the newest generation first, as git and lakeFS do.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

ID = sa.String(64)  # sha256 hex
NAME = sa.String(200)
JSON_TEXT = sa.Text()
SECONDS = sa.Double()


class SpaceRow(SQLModel, table=True):
    __tablename__ = "spaces"

    name: str = Field(primary_key=True, sa_type=NAME)
    frame_shape: str = Field(sa_type=JSON_TEXT)  # canonical JSON list of ints
    dtype: str = Field(sa_type=sa.String(16))
    player_dim: int
    model: str = Field(default="", sa_type=NAME)
    version: str = Field(default="", sa_type=NAME)
    vocab_size: int = 0
    max_players: int = 256
    reference: str = Field(default="{}", sa_type=JSON_TEXT)  # canonical JSON object
    decoder: str = Field(default="", sa_type=NAME)
    created_at: float = Field(default=0.0, sa_type=SECONDS)


class WorldRow(SQLModel, table=True):
    __tablename__ = "worlds"

    name: str = Field(primary_key=True, sa_type=NAME)
    space: str = Field(foreign_key="spaces.name", index=True, sa_type=NAME)
    owner: str = Field(index=True, sa_type=NAME)
    created_at: float = Field(default=0.0, sa_type=SECONDS)
    description: str = Field(default="", sa_type=sa.Text())
    origin: str = Field(
        default="{}", sa_type=JSON_TEXT
    )  # canonical JSON object: how a spawned world was made
    # who else may read it: private | shared (world_readers) | public; rows before migration 0006 became private
    visibility: str = Field(default="private", sa_type=sa.String(16), sa_column_kwargs={"server_default": "private"})
    deleted_at: float | None = Field(default=None, sa_type=SECONDS)  # an admin deleted it (migration 0009)


class WorldReaderRow(SQLModel, table=True):
    """A shared world's reader: ``principal`` may read ``world`` (while its visibility is "shared")."""

    __tablename__ = "world_readers"

    world: str = Field(primary_key=True, foreign_key="worlds.name", sa_type=NAME)
    principal: str = Field(primary_key=True, index=True, sa_type=NAME)


class SnapshotRow(SQLModel, table=True):
    __tablename__ = "snapshots"

    id: str = Field(primary_key=True, sa_type=ID)
    world: str = Field(foreign_key="worlds.name", index=True, sa_type=NAME)
    state: str = Field(index=True, sa_type=ID)  # the state's id: sha256 of its chunk manifest, or of its bytes (before 0009)
    state_size: int = Field(sa_type=sa.BigInteger())
    frame_count: int
    player_count: int
    generation: int
    created_at: float = Field(sa_type=SECONDS)
    provenance: str = Field(default="{}", sa_type=JSON_TEXT)  # canonical JSON object
    pruned_at: float | None = Field(default=None, sa_type=SECONDS)  # an admin pruned its state (migration 0009)
    seq: int | None = Field(default=None, index=True, unique=True, sa_type=sa.BigInteger())  # commit order (0010)


class SnapshotParentRow(SQLModel, table=True):
    """One parent edge: ``child`` has ``parent`` at index ``position`` of its parent tuple."""

    __tablename__ = "snapshot_parents"

    child: str = Field(primary_key=True, foreign_key="snapshots.id", sa_type=ID)
    position: int = Field(primary_key=True)
    parent: str = Field(foreign_key="snapshots.id", index=True, sa_type=ID)


class HeadRow(SQLModel, table=True):
    """A world's named pointer; moved only by compare-and-swap in ``commit_snapshot``."""

    __tablename__ = "heads"

    world: str = Field(primary_key=True, foreign_key="worlds.name", sa_type=NAME)
    name: str = Field(primary_key=True, sa_type=NAME)
    snapshot: str = Field(foreign_key="snapshots.id", index=True, sa_type=ID)


class IdempotencyRow(SQLModel, table=True):
    """A save's idempotency key: the same (principal, world, key) replays the snapshot it made."""

    __tablename__ = "idempotency_keys"

    principal: str = Field(primary_key=True, sa_type=NAME)
    world: str = Field(primary_key=True, foreign_key="worlds.name", sa_type=NAME)
    key: str = Field(primary_key=True, sa_type=NAME)
    snapshot: str = Field(foreign_key="snapshots.id", sa_type=ID)
    created_at: float = Field(sa_type=SECONDS)


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, sa_type=NAME)
    principal: str = Field(index=True, sa_type=NAME)
    role: str = Field(index=True, sa_type=sa.String(16))
    secret_hash: str = Field(sa_type=ID)
    created_at: float = Field(default=0.0, sa_type=SECONDS)
    revoked: bool = Field(default=False)


class RarityIndexRow(SQLModel, table=True):
    """Where a latent space's rarity index is persisted: the digest of its manifest blob (multiverse/rarity).
    Kept with the metadata, not on a server's disk, so any process that serves the space finds the index."""

    __tablename__ = "rarity_indexes"

    space: str = Field(primary_key=True, foreign_key="spaces.name", sa_type=NAME)
    manifest: str = Field(sa_type=ID)
    updated_at: float = Field(sa_type=SECONDS)
    # every snapshot of the space up to this commit seq is in the manifest's index (migration 0010)
    seq: int = Field(default=0, sa_type=sa.BigInteger(), sa_column_kwargs={"server_default": "0"})


class VectorDiscoveryRow(SQLModel, table=True):
    """The first committed snapshot that held each distinct vector (a frame or player row), keyed by the sha256 of
    the vector's canonical bytes (multiverse.state.vectors; the market's token id): its discoverer. Written
    insert-if-absent in the commit's own transaction, so the first commit wins. ``legacy_at``: set for a snapshot
    hashed after its commit (from vector_backlog): its created_at, which orders it among those and before every
    snapshot recorded at its commit (null)."""

    __tablename__ = "vector_discoveries"

    vector: str = Field(primary_key=True, sa_type=ID)
    snapshot: str = Field(foreign_key="snapshots.id", sa_type=ID)
    kind: str = Field(sa_type=sa.String(16))
    vector_index: int
    legacy_at: float | None = Field(default=None, sa_type=SECONDS)


class VectorBacklogRow(SQLModel, table=True):
    """A committed snapshot whose vectors are not in vector_discoveries yet (committed before migration 0007, or
    by a path that gave no vectors): hashed from its blob, oldest first, before a discovery is looked up."""

    __tablename__ = "vector_backlog"

    snapshot: str = Field(primary_key=True, foreign_key="snapshots.id", sa_type=ID)
    created_at: float = Field(sa_type=SECONDS)


class ChunkPackRow(SQLModel, table=True):
    """A pack of chunks: inline (``data``, a save's few new chunks, written in its own transaction) or a blob
    (recorded before its bytes are put, so a crash's orphan is found and collected)."""

    __tablename__ = "chunk_packs"

    digest: str = Field(primary_key=True, sa_type=ID)  # a blob's sha256 (64 hex), or an inline pack's id (32 hex)
    size: int = Field(sa_type=sa.BigInteger())
    created_at: float = Field(sa_type=SECONDS)
    data: bytes | None = Field(default=None, sa_type=sa.LargeBinary())


class ChunkRow(SQLModel, table=True):
    """Where a chunk (keyed by the BLAKE3 of its bytes) lives, what it was checked as, when a save last counted
    on it (the collector's grace window runs from there)."""

    __tablename__ = "chunks"

    address: str = Field(primary_key=True, sa_type=ID)
    pack: str = Field(foreign_key="chunk_packs.digest", index=True, sa_type=ID)
    pack_offset: int = Field(sa_type=sa.BigInteger())
    length: int
    checked: str = Field(sa_type=sa.String(16))  # the dtype its values were checked as; "" for raw bytes
    created_at: float = Field(sa_type=SECONDS)
    touched_at: float = Field(sa_type=SECONDS)


class ChunkedStateRow(SQLModel, table=True):
    """A state stored as chunks: its id is the sha256 of its manifest (multiverse/chunks)."""

    __tablename__ = "chunked_states"

    id: str = Field(primary_key=True, sa_type=ID)
    size: int = Field(sa_type=sa.BigInteger())
    chunk_count: int
    created_at: float = Field(sa_type=SECONDS)
    manifest: bytes = Field(sa_type=sa.LargeBinary())  # multiverse.chunks.cut's encoding; sha256 of it is the id


class LeaseRow(SQLModel, table=True):
    """A named lease held by one holder until ``expires_at``; ``token`` grows at each change of holder."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, sa_type=NAME)
    holder: str = Field(sa_type=NAME)
    token: int = Field(sa_type=sa.BigInteger())
    expires_at: float = Field(sa_type=SECONDS)


TABLES = (SpaceRow, WorldRow, WorldReaderRow, SnapshotRow, SnapshotParentRow, HeadRow, IdempotencyRow, ApiKeyRow,
          RarityIndexRow, VectorDiscoveryRow, VectorBacklogRow, ChunkPackRow, ChunkRow, ChunkedStateRow, LeaseRow)
TABLE_NAMES = frozenset(t.__tablename__ for t in TABLES)

# The same tables as Core ``Table`` objects, for the queries in sql.py.
spaces: sa.Table = SpaceRow.__table__  # type: ignore[attr-defined]
worlds: sa.Table = WorldRow.__table__  # type: ignore[attr-defined]
world_readers: sa.Table = WorldReaderRow.__table__  # type: ignore[attr-defined]
snapshots: sa.Table = SnapshotRow.__table__  # type: ignore[attr-defined]
snapshot_parents: sa.Table = SnapshotParentRow.__table__  # type: ignore[attr-defined]
heads: sa.Table = HeadRow.__table__  # type: ignore[attr-defined]
idempotency_keys: sa.Table = IdempotencyRow.__table__  # type: ignore[attr-defined]
api_keys: sa.Table = ApiKeyRow.__table__  # type: ignore[attr-defined]
rarity_indexes: sa.Table = RarityIndexRow.__table__  # type: ignore[attr-defined]
vector_discoveries: sa.Table = VectorDiscoveryRow.__table__  # type: ignore[attr-defined]
vector_backlog: sa.Table = VectorBacklogRow.__table__  # type: ignore[attr-defined]
chunk_packs: sa.Table = ChunkPackRow.__table__  # type: ignore[attr-defined]
chunks: sa.Table = ChunkRow.__table__  # type: ignore[attr-defined]
chunked_states: sa.Table = ChunkedStateRow.__table__  # type: ignore[attr-defined]
leases: sa.Table = LeaseRow.__table__  # type: ignore[attr-defined]
