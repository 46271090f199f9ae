"""Rarity index pointers: each latent space's persisted rarity index (its manifest's blob digest).

Revision ID: 0003_rarity_indexes
Revises: 0002_market
Create Date: 2026-11-30

Until this revision the pointers lived in a file on the serving machine's disk (``<data>/rarity/pointers.json``);
multiverse/rarity/service.py still reads that file once when the table has no pointer for a space. Portable:
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_rarity_indexes"
down_revision: str | None = "0002_market"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rarity_indexes",
        sa.Column("space", sa.String(200), nullable=False),
        sa.Column("manifest", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("space"),
        sa.ForeignKeyConstraint(["space"], ["spaces.name"]),
    )


def downgrade() -> None:
    op.drop_table("rarity_indexes")
