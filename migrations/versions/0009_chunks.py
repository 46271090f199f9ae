"""States as content-addressed chunks, packed into blobs; snapshots that were pruned; worlds that were deleted.

Revision ID: 0009_chunks
Revises: 0008_token_scoring
Create Date: 2026-12-07

A state saved from now on is a manifest of chunks (multiverse/chunks, docs/chunks.md): the manifest is a blob
stored under its own sha256, which is the state's id (``snapshots.state``); its chunks live inside pack blobs.

- ``chunk_packs``: every pack. A small one (a save's few new frames) is kept inline, its bytes in ``data``, written
  in the save's own transaction (one durable write per save) and moved into a pack blob with others later; a big
  one is a blob, recorded *before* its bytes are put, so that the collector finds a pack a crash left without
  chunk rows. ``created_at`` starts its grace window.
- ``chunks``: where each chunk (keyed by the BLAKE3 of its bytes) lives: pack, pack_offset, length; ``checked``: the
  dtype its values were checked as (finite floats, token ids in range) when it arrived ("" for header bytes);
  ``touched_at``: the last time a save counted on it (an offer that found it, a save that used it). The
  collector removes a chunk only when no kept state names it and it was not touched within the grace window.
- ``chunked_states``: every chunked state: its manifest (the bytes whose SHA-256 is the state's id), size and chunk
  count; removed once no snapshot needs it and its grace window passed.
- ``snapshots.pruned_at``: set when an admin pruned the snapshot: its record stays (lineage, logs and merge bases
  still walk it), its state is no longer kept.
- ``worlds.deleted_at``: set when an admin deleted the world: it is hidden and its heads are gone; the records of
  its snapshots stay for the lineage of other worlds.

States stored before this revision stay whole blobs under the sha256 of their bytes and load as they are.
Portable: SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_chunks"
down_revision: str | None = "0008_token_scoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "chunk_packs",
        sa.Column("digest", ID, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "chunks",
        sa.Column("address", ID, nullable=False),
        sa.Column("pack", ID, nullable=False),
        sa.Column("pack_offset", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("checked", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("touched_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
        sa.ForeignKeyConstraint(["pack"], ["chunk_packs.digest"]),
    )
    op.create_index("ix_chunks_pack", "chunks", ["pack"])
    op.create_table(
        "chunked_states",
        sa.Column("id", ID, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("snapshots", sa.Column("pruned_at", sa.Double(), nullable=True))
    op.add_column("worlds", sa.Column("deleted_at", sa.Double(), nullable=True))


def downgrade() -> None:
    held = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM chunked_states")).scalar_one()
    if held:
        raise RuntimeError(f"{held} states are stored as chunks: downgrading below 0009_chunks would drop them. "
                           "Keep this revision (or restore a backup taken before the upgrade)")
    # in place, not batch mode (SQLite 3.35+ drops a column itself), as 0006 does
    op.drop_column("worlds", "deleted_at")
    op.drop_column("snapshots", "pruned_at")
    op.drop_table("chunked_states")
    op.drop_index("ix_chunks_pack", table_name="chunks")
    op.drop_table("chunks")
    op.drop_table("chunk_packs")
