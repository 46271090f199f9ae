"""The rarity a token was minted with, as its Provenance event commits to it.

Revision ID: 0008_token_scoring
Revises: 0007_vector_discoveries
Create Date: 2026-12-08

``market_tokens`` gains the fields of a mint's commitment (multiverse/chain/provenance.py) beside the tier and
percentile it already kept: ``score`` (the raw score), ``index_version``, ``index_digest`` (the rarity index pinned in
the blob store at mint), ``calibration_hash`` (the calibration blob that placed the score) and ``commitment`` (the
sha256 the chain holds). Tokens minted before this revision keep NULLs: ``verify`` answers that they are
unverifiable, minted before mints committed to their rarity. Portable: SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_token_scoring"
down_revision: str | None = "0007_vector_discoveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("score", sa.Double()),
    ("index_version", sa.String(64)),
    ("index_digest", sa.String(64)),
    ("calibration_hash", sa.String(64)),
    ("commitment", sa.String(64)),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("market_tokens", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    # in place, not batch mode (SQLite 3.35+ drops a column itself), as 0006 does
    for name, _ in reversed(COLUMNS):
        op.drop_column("market_tokens", name)
