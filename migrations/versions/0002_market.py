"""Market tables: tokens, listings, indexed chain events and blocks, wallet sign-in nonces and sessions, payouts.

Revision ID: 0002_market
Revises: 0001
Create Date: 2026-11-30

Creates exactly the tables of multiverse/market/tables.py as they are at this revision (a later change to those
tables needs its own migration). Portable: SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_market"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = sa.String(66)
ADDRESS = sa.String(42)
UINT = sa.String(80)


def upgrade() -> None:
    op.create_table(
        "market_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(42), nullable=False),
        sa.Column("discoverer", ADDRESS, nullable=False),
        sa.Column("space", sa.String(200), nullable=False),
        sa.Column("snapshot", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("vector_index", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("percentile", sa.Double(), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("shape", sa.Text(), nullable=False),
        sa.Column("mint_tx", HASH, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    for column in ("owner", "space", "tier"):
        op.create_index(f"ix_market_tokens_{column}", "market_tokens", [column])
    op.create_table(
        "market_listings",
        sa.Column("listing_hash", HASH, primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("seller", ADDRESS, nullable=False),
        sa.Column("price", UINT, nullable=False),
        sa.Column("fee_recipient", ADDRESS, nullable=False),
        sa.Column("fee", UINT, nullable=False),
        sa.Column("counter", UINT, nullable=False),
        sa.Column("salt", UINT, nullable=False),
        sa.Column("expiry", UINT, nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    for column in ("token_id", "seller", "status"):
        op.create_index(f"ix_market_listings_{column}", "market_listings", [column])
    op.create_table(
        "market_chain_events",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True),
        sa.Column("block_hash", HASH, primary_key=True),
        sa.Column("tx_hash", HASH, primary_key=True),
        sa.Column("log_index", sa.Integer(), primary_key=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("listing_hash", sa.String(66), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
    )
    for column in ("block_number", "token_id"):
        op.create_index(f"ix_market_chain_events_{column}", "market_chain_events", [column])
    op.create_table(
        "market_chain_blocks",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True),
        sa.Column("number", sa.BigInteger(), primary_key=True),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("parent_hash", HASH, nullable=False),
    )
    op.create_table(
        "market_nonces",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
    )
    op.create_table(
        "market_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("address", ADDRESS, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_market_sessions_address", "market_sessions", ["address"])
    op.create_table(
        "market_payouts",
        sa.Column("principal", sa.String(200), primary_key=True),
        sa.Column("address", ADDRESS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "market_payouts",
        "market_sessions",
        "market_nonces",
        "market_chain_blocks",
        "market_chain_events",
        "market_listings",
        "market_tokens",
    ):
        op.drop_table(table)
