"""Vector discoveries (the first committed snapshot holding each vector) and the sign-in nonce's client.

Revision ID: 0007_vector_discoveries
Revises: 0006_world_visibility
Create Date: 2026-12-01

``vector_discoveries`` keeps, for each distinct vector (sha256 of its canonical bytes: the market's token id), the
first snapshot whose commit held it; every commit from now on records its vectors in its own transaction. The
snapshots stored before this revision go to ``vector_backlog``: the market hashes them from their blobs, oldest
first, before it decides a claim, and ranks them before every later commit (multiverse/market/discovery.py).
``market_nonces.client`` names who asked for a sign-in nonce, so outstanding nonces are limited per client.
Portable: SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_vector_discoveries"
down_revision: str | None = "0006_world_visibility"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "vector_discoveries",
        sa.Column("vector", ID, nullable=False),
        sa.Column("snapshot", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("vector_index", sa.Integer(), nullable=False),
        sa.Column("legacy_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("vector"),
        sa.ForeignKeyConstraint(["snapshot"], ["snapshots.id"]),
    )
    op.create_table(
        "vector_backlog",
        sa.Column("snapshot", ID, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot"),
        sa.ForeignKeyConstraint(["snapshot"], ["snapshots.id"]),
    )
    op.execute("INSERT INTO vector_backlog (snapshot, created_at) SELECT id, created_at FROM snapshots")
    op.add_column("market_nonces", sa.Column("client", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    # in place, not batch mode (SQLite 3.35+ drops a column itself), as 0006 does
    op.drop_column("market_nonces", "client")
    op.drop_table("vector_backlog")
    op.drop_table("vector_discoveries")
