"""Listings carry the token's nonce they were signed with (Exchange listing version 2).

Revision ID: 0005_listing_token_nonce
Revises: 0003_rarity_indexes
Create Date: 2026-12-01

contracts/Exchange.sol fills a listing only while its token's nonce (how often the token moved since its mint) is
the one the seller signed, so a listing dies when its token leaves the seller. The market stores that nonce with
each listing (to rebuild the signed struct for buyers) and marks a listing ``stale`` once its token moved on.
Listings stored before this revision were signed for a version 1 exchange: they get nonce 0. Portable: SQLite and
PostgreSQL (the downgrade copies the table on SQLite, which is what batch mode is for).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_listing_token_nonce"
down_revision: str | None = "0003_rarity_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "market_listings", sa.Column("token_nonce", sa.String(80), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("market_listings") as batch:
        batch.drop_column("token_nonce")
