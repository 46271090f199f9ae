"""The market: rare vectors claimed as tokens, wallet sign-in, listings, and the chain indexer.

db = MarketDb(meta, chain.contracts.token)
market = Market(meta, blobs, chain, db, rarity_of, MarketConfig(min_tier="rare"))
signin = SignIn(db, chain.chain_id(), SignInConfig(domain="gallery.example", uri="https://gallery.example"))
Indexer(chain, db, confirmations=2).sync()
"""

from __future__ import annotations

from .claims import PinningRarity
from .db import EventRow, MarketDb
from .indexer import Indexer, SyncResult
from .market import TIERS, Market, MarketConfig, Prepared, RarityOf
from .rows import ListingRow, MintScoring, TokenRow
from .signin import ROLE_WALLET, Session, SignIn, SignInConfig, is_session_token
from .vectors import Vector, VectorRef, canonical_bytes, parse_canonical

__all__ = [
    "ROLE_WALLET",
    "TIERS",
    "EventRow",
    "Indexer",
    "ListingRow",
    "Market",
    "MarketConfig",
    "MarketDb",
    "MintScoring",
    "PinningRarity",
    "Prepared",
    "RarityOf",
    "Session",
    "SignIn",
    "SignInConfig",
    "SyncResult",
    "TokenRow",
    "Vector",
    "VectorRef",
    "canonical_bytes",
    "is_session_token",
    "parse_canonical",
]
