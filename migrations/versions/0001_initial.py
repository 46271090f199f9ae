"""Initial metadata schema: spaces, worlds, snapshots and their parent edges, heads, idempotency keys, API keys.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Hand-written and portable: it must run on SQLite and PostgreSQL alike (tests/metadata runs it on both and
compares the result with multiverse/metadata/models.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)  # sha256 hex
NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("name", NAME, nullable=False),
        sa.Column("frame_shape", sa.Text(), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("player_dim", sa.Integer(), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", NAME, nullable=False),
        sa.Column("vocab_size", sa.Integer(), nullable=False),
        sa.Column("max_players", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("decoder", NAME, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "worlds",
        sa.Column("name", NAME, nullable=False),
        sa.Column("space", NAME, nullable=False),
        sa.Column("owner", NAME, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.ForeignKeyConstraint(["space"], ["spaces.name"]),
    )
    op.create_index("ix_worlds_space", "worlds", ["space"])
    op.create_index("ix_worlds_owner", "worlds", ["owner"])
    op.create_table(
        "snapshots",
        sa.Column("id", ID, nullable=False),
        sa.Column("world", NAME, nullable=False),
        sa.Column("state", ID, nullable=False),
        sa.Column("state_size", sa.BigInteger(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("player_count", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["world"], ["worlds.name"]),
    )
    op.create_index("ix_snapshots_world", "snapshots", ["world"])
    op.create_index("ix_snapshots_state", "snapshots", ["state"])
    op.create_table(
        "snapshot_parents",
        sa.Column("child", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent", ID, nullable=False),
        sa.PrimaryKeyConstraint("child", "position"),
        sa.ForeignKeyConstraint(["child"], ["snapshots.id"]),
        sa.ForeignKeyConstraint(["parent"], ["snapshots.id"]),
    )
    op.create_index("ix_snapshot_parents_parent", "snapshot_parents", ["parent"])
    op.create_table(
        "heads",
        sa.Column("world", NAME, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("snapshot", ID, nullable=False),
        sa.PrimaryKeyConstraint("world", "name"),
        sa.ForeignKeyConstraint(["world"], ["worlds.name"]),
        sa.ForeignKeyConstraint(["snapshot"], ["snapshots.id"]),
    )
    op.create_index("ix_heads_snapshot", "heads", ["snapshot"])
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", NAME, nullable=False),
        sa.Column("world", NAME, nullable=False),
        sa.Column("key", NAME, nullable=False),
        sa.Column("snapshot", ID, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "world", "key"),
        sa.ForeignKeyConstraint(["world"], ["worlds.name"]),
        sa.ForeignKeyConstraint(["snapshot"], ["snapshots.id"]),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", NAME, nullable=False),
        sa.Column("principal", NAME, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", ID, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_keys_principal", "api_keys", ["principal"])
    op.create_index("ix_api_keys_role", "api_keys", ["role"])


def downgrade() -> None:
    for index, table in (
        ("ix_api_keys_role", "api_keys"),
        ("ix_api_keys_principal", "api_keys"),
        ("ix_heads_snapshot", "heads"),
        ("ix_snapshot_parents_parent", "snapshot_parents"),
        ("ix_snapshots_state", "snapshots"),
        ("ix_snapshots_world", "snapshots"),
        ("ix_worlds_owner", "worlds"),
        ("ix_worlds_space", "worlds"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "api_keys",
        "idempotency_keys",
        "heads",
        "snapshot_parents",
        "snapshots",
        "worlds",
        "spaces",
    ):
        op.drop_table(table)
