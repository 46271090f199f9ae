"""The market's metadata tables (SQLAlchemy Core), created by migrations/versions/0002_market.py.

Conventions as in multiverse.metadata.models: ids are text; uint256 amounts (prices, counters, salts) are decimal
text, since they overflow BIGINT; addresses are checksummed ``0x`` text; timestamps are float seconds.

- ``market_tokens``: one row per claimed (or indexed) token; ``owner`` follows the indexed Transfer events
  ("" when the chain no longer has the token, e.g. its mint was reorganised away).
- ``market_listings``: signed listings; ``status`` follows the indexed Sold / Cancelled events, and becomes
  ``stale`` once the indexed Transfers of its token outnumber the token nonce it was signed with (migration 0005).
- ``market_chain_events`` keyed by (chain id, block hash, transaction, log index): replays change nothing.
- ``market_chain_blocks``: the blocks the indexer has seen (hash and parent hash), to detect reorgs.
- ``market_nonces`` / ``market_sessions``: wallet sign-in (EIP-4361); sessions store only the secret's sha256;
  a nonce row lives until it is used or expires, and names the client that asked for it (limits per client).
- ``market_payouts``: a game server's (world owner's) payout address, which claims frame vectors.

A token row keeps the rarity its mint committed to (score, index version, pinned index digest, calibration hash and
the commitment itself; migration 0008), so that ``verify`` can recompute it from the blob store.
"""

from __future__ import annotations

import sqlalchemy as sa

METADATA = sa.MetaData()
ID = sa.String(64)
HASH = sa.String(66)  # 0x + 64 hex
ADDRESS = sa.String(42)
NAME = sa.String(200)
UINT = sa.String(80)  # a uint256 in decimal

tokens = sa.Table(
    "market_tokens",
    METADATA,
    sa.Column("token_id", ID, primary_key=True),
    sa.Column("chain_id", sa.BigInteger(), nullable=False),
    sa.Column("owner", sa.String(42), nullable=False, index=True),
    sa.Column("discoverer", ADDRESS, nullable=False),
    sa.Column("space", NAME, nullable=False, index=True),
    sa.Column("snapshot", ID, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("vector_index", sa.Integer(), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False, index=True),
    sa.Column("percentile", sa.Double(), nullable=False),
    sa.Column("dtype", sa.String(16), nullable=False),
    sa.Column("shape", sa.Text(), nullable=False),  # canonical JSON list of ints
    sa.Column("mint_tx", HASH, nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    # the rarity the mint committed to (migration 0008; NULL for tokens minted before): multiverse/chain/provenance.py
    sa.Column("score", sa.Double(), nullable=True),
    sa.Column("index_version", sa.String(64), nullable=True),
    sa.Column("index_digest", ID, nullable=True),
    sa.Column("calibration_hash", ID, nullable=True),
    sa.Column("commitment", ID, nullable=True),
)

listings = sa.Table(
    "market_listings",
    METADATA,
    sa.Column("listing_hash", HASH, primary_key=True),
    sa.Column("chain_id", sa.BigInteger(), nullable=False),
    sa.Column("token_id", ID, nullable=False, index=True),
    sa.Column("seller", ADDRESS, nullable=False, index=True),
    sa.Column("price", UINT, nullable=False),
    sa.Column("fee_recipient", ADDRESS, nullable=False),
    sa.Column("fee", UINT, nullable=False),
    sa.Column("counter", UINT, nullable=False),
    sa.Column("salt", UINT, nullable=False),
    sa.Column("expiry", UINT, nullable=False),
    sa.Column("token_nonce", UINT, nullable=False, server_default="0"),  # the token's nonce when signed
    sa.Column("signature", sa.Text(), nullable=False),  # 0x hex
    sa.Column("status", sa.String(16), nullable=False, index=True),  # active | sold | cancelled | stale
    sa.Column("created_at", sa.Double(), nullable=False),
)

chain_events = sa.Table(
    "market_chain_events",
    METADATA,
    sa.Column("chain_id", sa.BigInteger(), primary_key=True),
    sa.Column("block_hash", HASH, primary_key=True),
    sa.Column("tx_hash", HASH, primary_key=True),
    sa.Column("log_index", sa.Integer(), primary_key=True),
    sa.Column("block_number", sa.BigInteger(), nullable=False, index=True),
    sa.Column("contract", sa.String(32), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("token_id", sa.String(64), nullable=False, index=True),  # "" for events without a token
    sa.Column("listing_hash", sa.String(66), nullable=False),  # "" for events without a listing
    sa.Column("args", sa.Text(), nullable=False),  # canonical JSON object
)

chain_blocks = sa.Table(
    "market_chain_blocks",
    METADATA,
    sa.Column("chain_id", sa.BigInteger(), primary_key=True),
    sa.Column("number", sa.BigInteger(), primary_key=True),
    sa.Column("hash", HASH, nullable=False),
    sa.Column("parent_hash", HASH, nullable=False),
)

nonces = sa.Table(
    "market_nonces",
    METADATA,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("used_at", sa.Double(), nullable=True),
    sa.Column("client", sa.String(64), nullable=False, server_default=""),  # who asked (its network address)
)

sessions = sa.Table(
    "market_sessions",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("address", ADDRESS, nullable=False, index=True),
    sa.Column("chain_id", sa.BigInteger(), nullable=False),
    sa.Column("secret_hash", ID, nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
)

payouts = sa.Table(
    "market_payouts",
    METADATA,
    sa.Column("principal", NAME, primary_key=True),
    sa.Column("address", ADDRESS, nullable=False),
)

TABLES = (tokens, listings, chain_events, chain_blocks, nonces, sessions, payouts)
TABLE_NAMES = frozenset(t.name for t in TABLES)
