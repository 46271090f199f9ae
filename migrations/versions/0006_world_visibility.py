"""World visibility: who may read a world besides its owner and admins (private, shared with named principals, public).

Revision ID: 0006_world_visibility
Revises: 0005_listing_token_nonce
Create Date: 2026-12-01

Worlds stored before this revision become ``private``, the default for new worlds: their owners and admins read
them as before (the demo's admin crosses every server's worlds), and no other server's key reads them any more,
which is the fault this revision closes. An owner opens one again with ``multiverse world share``. Portable:
SQLite (3.35+ drops a column in place) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_world_visibility"
down_revision: str | None = "0005_listing_token_nonce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(200)


def upgrade() -> None:
    op.add_column("worlds", sa.Column("visibility", sa.String(16), nullable=False, server_default="private"))
    op.create_table(
        "world_readers",
        sa.Column("world", NAME, nullable=False),
        sa.Column("principal", NAME, nullable=False),
        sa.PrimaryKeyConstraint("world", "principal"),
        sa.ForeignKeyConstraint(["world"], ["worlds.name"]),
    )
    op.create_index("ix_world_readers_principal", "world_readers", ["principal"])


def downgrade() -> None:
    op.drop_index("ix_world_readers_principal", table_name="world_readers")
    op.drop_table("world_readers")
    # in place, not batch mode: a batch copy would drop and re-create ``worlds``, which snapshots and heads reference
    op.drop_column("worlds", "visibility")
