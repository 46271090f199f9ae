"""Scale-out: the commit sequence, how far each rarity index got, and leases.

Revision ID: 0010_scale_out
Revises: 0009_chunks
Create Date: 2026-12-07

- ``snapshots.seq``: the order in which snapshots were committed (1, 2, 3, ...), assigned inside the committing
  transaction under the database's write lock (SQLite's, or a PostgreSQL advisory transaction lock), so that seq
  order is commit order: a reader that has seen every seq up to n never later finds a smaller one. Rarity workers
  in other processes follow it (multiverse/rarity). Rows before this revision are numbered by (created_at, id).
- ``rarity_indexes.seq``: every snapshot of the space up to this seq is in the persisted index its manifest
  names; a worker that takes the space over catches up from there.
- ``leases``: a named lease (the market's indexer, a space's rarity worker) held by one holder until
  ``expires_at``; ``token`` grows by one at each change of holder (a fencing token).

Portable: SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_scale_out"
down_revision: str | None = "0009_chunks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("snapshots", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE snapshots SET seq = (SELECT COUNT(*) FROM snapshots AS s WHERE s.created_at < snapshots.created_at "
        "OR (s.created_at = snapshots.created_at AND s.id <= snapshots.id))"
    )
    op.create_index("ix_snapshots_seq", "snapshots", ["seq"], unique=True)
    op.add_column("rarity_indexes", sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_column("rarity_indexes", "seq")
    op.drop_index("ix_snapshots_seq", table_name="snapshots")
    op.drop_column("snapshots", "seq")
