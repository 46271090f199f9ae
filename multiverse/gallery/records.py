"""JSON of the store's and market's records as the gallery shows them (pure). uint256 amounts are decimal strings
(JavaScript numbers would round them); token ids are 64 hex digits."""

from __future__ import annotations

from typing import Any

from multiverse.market.db import EventRow
from multiverse.market.rows import ListingRow, TokenRow
from multiverse.pictures.paths import picture_path
from multiverse.records import SpaceRecord, SnapshotRecord, WorldRecord


def space_json(space: SpaceRecord, counts: dict[str, int]) -> dict[str, Any]:
    return {"name": space.name, "model": space.model, "version": space.version, "dtype": space.dtype,
            "decoder": space.decoder, "frame_shape": list(space.frame_shape), "player_dim": space.player_dim,
            "counts": counts}


def world_json(world: WorldRecord) -> dict[str, Any]:
    return {"name": world.name, "space": world.space, "owner": world.owner, "created_at": world.created_at,
            "description": world.description, "visibility": world.visibility, "origin": world.origin}


def snapshot_json(record: SnapshotRecord) -> dict[str, Any]:
    """A snapshot record, with the picture of its last frame (none for a snapshot without frames)."""
    last = record.frame_count - 1
    return {"id": record.id, "world": record.world, "parents": list(record.parents), "state": record.state,
            "state_size": record.state_size, "frames": record.frame_count, "players": record.player_count,
            "generation": record.generation, "created_at": record.created_at,
            "provenance": {k: v for k, v in record.provenance.items() if k != "stats"},
            "picture": picture_path(record.id, "frame", last) if last >= 0 else None}


def token_json(row: TokenRow) -> dict[str, Any]:
    return {"token_id": row.token_id, "chain_id": row.chain_id, "owner": row.owner, "discoverer": row.discoverer,
            "space": row.space, "snapshot": row.snapshot, "kind": row.kind, "index": row.vector_index,
            "tier": row.tier, "percentile": row.percentile, "dtype": row.dtype, "shape": list(row.shape),
            "mint_tx": row.mint_tx, "created_at": row.created_at,
            "picture": picture_path(row.snapshot, row.kind, row.vector_index)}


def listing_json(row: ListingRow) -> dict[str, Any]:
    """Every field of the signed listing (as the exchange takes it), its signature, hash and status."""
    x = row.listing
    return {"listing_hash": row.listing_hash, "chain_id": row.chain_id, "seller": x.seller, "token": x.token,
            "token_id": row.token_id, "price": str(x.price), "fee_recipient": x.fee_recipient, "fee": str(x.fee),
            "counter": str(x.counter), "salt": str(x.salt), "expiry": str(x.expiry),
            "token_nonce": str(x.token_nonce), "signature": row.signature, "status": row.status,
            "created_at": row.created_at}


def event_json(e: EventRow) -> dict[str, Any]:
    return {"name": e.name, "block_number": e.block_number, "tx_hash": e.tx_hash, "log_index": e.log_index,
            "contract": e.contract, "listing_hash": e.listing_hash,
            "args": {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in e.args.items()}}
