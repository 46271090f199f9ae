"""The market's rows in the metadata database (tables.py): plain reads and writes, no rules. Every call is one
transaction of the metadata store (so an in-memory SQLite database stays serialised with the rest)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from multiverse.errors import NotFound
from multiverse.metadata.sql import SqlMetadata

from . import tables as t
from .rows import ListingRow, TokenRow

ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class EventRow:
    chain_id: int
    block_hash: str
    tx_hash: str
    log_index: int
    block_number: int
    contract: str
    name: str
    token_id: str
    listing_hash: str
    args: dict[str, Any]


def listing_status(events: set[str], token_moves: int, signed_nonce: int) -> str:
    """A listing's status from the names of its indexed events and its token's indexed moves since mint."""
    if "Sold" in events:
        return "sold"
    if "Cancelled" in events:
        return "cancelled"
    return "stale" if token_moves > signed_nonce else "active"


class MarketDb:
    def __init__(self, meta: SqlMetadata, token: str) -> None:
        self.meta, self.token = meta, token  # token: the RareVector contract's address (listings name it)
        self._insert = meta.insert  # dialect's INSERT with ON CONFLICT

    def _tx(self, write: bool = False):
        return self.meta.transaction(write=write)

    # tokens ------------------------------------------------------------------------------------------------
    def put_token(self, row: TokenRow) -> None:
        with self._tx(write=True) as conn:
            values = row.values()
            conn.execute(
                self._insert(t.tokens)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["token_id"], set_={k: v for k, v in values.items() if k != "token_id"}
                )
            )
            c = t.chain_events.c
            seen = sa.select(c.log_index).where(
                c.chain_id == row.chain_id, c.token_id == row.token_id, c.name == "Transfer"
            )
            if (
                conn.execute(seen.limit(1)).first() is not None
            ):  # the indexer got there first: the chain decides
                self._derive(conn, row.chain_id, {row.token_id}, set())

    def get_token(self, token_id: str) -> TokenRow:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.tokens).where(t.tokens.c.token_id == token_id)).mappings().first()
        if row is None:
            raise NotFound(
                f"no token {token_id} has been claimed here: list tokens to see which exist",
                token_id=token_id,
            )
        return TokenRow.of(row)

    def find_token(self, token_id: str) -> TokenRow | None:
        try:
            return self.get_token(token_id)
        except NotFound:
            return None

    def list_tokens(
        self,
        *,
        owner: str = "",
        space: str = "",
        tiers: Iterable[str] = (),
        after: str = "",
        limit: int = 100,
    ) -> list[TokenRow]:
        q = sa.select(t.tokens).where(t.tokens.c.owner != "").order_by(t.tokens.c.token_id).limit(limit)
        if owner:
            q = q.where(sa.func.lower(t.tokens.c.owner) == owner.lower())
        if space:
            q = q.where(t.tokens.c.space == space)
        if tiers := list(tiers):
            q = q.where(t.tokens.c.tier.in_(tiers))
        if after:
            q = q.where(t.tokens.c.token_id > after)
        with self._tx() as conn:
            return [TokenRow.of(r) for r in conn.execute(q).mappings()]

    # listings ----------------------------------------------------------------------------------------------
    def put_listing(self, row: ListingRow) -> bool:
        """Insert unless the hash is stored already; True if inserted. Its status then follows what is indexed
        (the token may have moved on since the seller signed)."""
        with self._tx(write=True) as conn:
            stmt = self._insert(t.listings).values(**row.values()).on_conflict_do_nothing()
            inserted = conn.execute(stmt).rowcount == 1
            if inserted:
                self._derive_listings(conn, row.chain_id, {row.token_id}, {row.listing_hash})
            return inserted

    def listings(
        self, *, token_id: str = "", seller: str = "", status: str = "active", limit: int = 100
    ) -> list[ListingRow]:
        q = sa.select(t.listings).order_by(t.listings.c.created_at, t.listings.c.listing_hash).limit(limit)
        if token_id:
            q = q.where(t.listings.c.token_id == token_id)
        if seller:
            q = q.where(sa.func.lower(t.listings.c.seller) == seller.lower())
        if status:
            q = q.where(t.listings.c.status == status)
        with self._tx() as conn:
            return [ListingRow.of(r, self.token) for r in conn.execute(q).mappings()]

    def salts(self, seller: str, counter: int) -> dict[int, str]:
        """Salts (listing nonces) of ``seller``'s stored listings signed with ``counter``: salt -> listing hash."""
        q = sa.select(t.listings.c.salt, t.listings.c.listing_hash).where(
            sa.func.lower(t.listings.c.seller) == seller.lower(), t.listings.c.counter == str(counter)
        )
        with self._tx() as conn:
            return {int(r[0]): r[1] for r in conn.execute(q)}

    # chain events and blocks --------------------------------------------------------------------------------
    def last_block(self, chain_id: int) -> tuple[int, str] | None:
        q = sa.select(t.chain_blocks.c.number, t.chain_blocks.c.hash).where(
            t.chain_blocks.c.chain_id == chain_id
        )
        with self._tx() as conn:
            row = conn.execute(q.order_by(t.chain_blocks.c.number.desc()).limit(1)).first()
        return None if row is None else (int(row[0]), row[1])

    def first_block(self, chain_id: int) -> tuple[int, str] | None:
        """The oldest indexed block (number, hash) of ``chain_id``: the indexer never rolls back past it."""
        q = sa.select(t.chain_blocks.c.number, t.chain_blocks.c.hash).where(
            t.chain_blocks.c.chain_id == chain_id
        )
        with self._tx() as conn:
            row = conn.execute(q.order_by(t.chain_blocks.c.number.asc()).limit(1)).first()
        return None if row is None else (int(row[0]), row[1])

    def block_hash(self, chain_id: int, number: int) -> str | None:
        q = sa.select(t.chain_blocks.c.hash).where(
            t.chain_blocks.c.chain_id == chain_id, t.chain_blocks.c.number == number
        )
        with self._tx() as conn:
            return conn.execute(q).scalar()

    def add_block(
        self, chain_id: int, number: int, block_hash: str, parent_hash: str, events: list[EventRow]
    ) -> None:
        """Record a block and its events in one transaction; events are keyed by (chain, block hash, tx, log
        index), so replaying a block changes nothing. Then re-derives what those events decide."""
        with self._tx(write=True) as conn:
            conn.execute(
                self._insert(t.chain_blocks)
                .values(chain_id=chain_id, number=number, hash=block_hash, parent_hash=parent_hash)
                .on_conflict_do_update(
                    index_elements=["chain_id", "number"],
                    set_={"hash": block_hash, "parent_hash": parent_hash},
                )
            )
            for e in events:
                values = {
                    **e.__dict__,
                    "args": json.dumps(e.args, sort_keys=True, separators=(",", ":"), default=str),
                }
                conn.execute(self._insert(t.chain_events).values(**values).on_conflict_do_nothing())
            self._derive(
                conn,
                chain_id,
                {e.token_id for e in events if e.token_id},
                {e.listing_hash for e in events if e.listing_hash},
            )

    def rollback_after(self, chain_id: int, number: int) -> int:
        """Forget blocks (and their events) after ``number``; re-derive what they decided. Returns blocks dropped."""
        with self._tx(write=True) as conn:
            gone = sa.select(t.chain_events.c.token_id, t.chain_events.c.listing_hash).where(
                t.chain_events.c.chain_id == chain_id, t.chain_events.c.block_number > number
            )
            rows = conn.execute(gone).all()
            conn.execute(
                t.chain_events.delete().where(
                    t.chain_events.c.chain_id == chain_id, t.chain_events.c.block_number > number
                )
            )
            dropped = conn.execute(
                t.chain_blocks.delete().where(
                    t.chain_blocks.c.chain_id == chain_id, t.chain_blocks.c.number > number
                )
            ).rowcount
            self._derive(conn, chain_id, {r[0] for r in rows if r[0]}, {r[1] for r in rows if r[1]})
        return dropped

    def events(self, chain_id: int, token_id: str, limit: int = 100) -> list[EventRow]:
        c = t.chain_events.c
        q = sa.select(t.chain_events).where(c.chain_id == chain_id, c.token_id == token_id)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(c.block_number, c.log_index).limit(limit)).mappings().all()
        return [EventRow(**{**r, "args": json.loads(r["args"])}) for r in rows]

    def _derive(
        self, conn: sa.Connection, chain_id: int, token_ids: set[str], listing_hashes: set[str]
    ) -> None:
        """Owner of each token = ``to`` of its last indexed Transfer ("" if none: not on the chain); then the
        status of each listing these events touch (``_derive_listings``)."""
        c = t.chain_events.c
        for token_id in token_ids:
            last = conn.execute(
                sa.select(c.args)
                .where(c.chain_id == chain_id, c.token_id == token_id, c.name == "Transfer")
                .order_by(c.block_number.desc(), c.log_index.desc())
                .limit(1)
            ).scalar()
            owner = json.loads(last)["to"] if last else ""
            conn.execute(
                t.tokens.update()
                .where(t.tokens.c.token_id == token_id)
                .values(owner="" if owner == ZERO else owner)
            )
        self._derive_listings(conn, chain_id, token_ids, listing_hashes)

    def _derive_listings(
        self, conn: sa.Connection, chain_id: int, token_ids: set[str], listing_hashes: set[str]
    ) -> None:
        """Status of the given listings and of every listing of the given tokens: sold / cancelled if an indexed
        event says so; else stale if the token's indexed moves (Transfers after its mint) outnumber the nonce the
        listing was signed with, since the exchange never fills it then; else active."""
        c, x = t.chain_events.c, t.listings.c
        if token_ids:
            listing_hashes = listing_hashes | set(
                conn.execute(sa.select(x.listing_hash).where(x.token_id.in_(token_ids))).scalars()
            )
        moves: dict[str, int] = {}
        for listing_hash, token_id, signed_nonce in conn.execute(
            sa.select(x.listing_hash, x.token_id, x.token_nonce).where(x.listing_hash.in_(listing_hashes))
        ).all():
            names = set(
                conn.execute(
                    sa.select(c.name).where(c.chain_id == chain_id, c.listing_hash == listing_hash)
                ).scalars()
            )
            if token_id not in moves:
                transfers = conn.execute(
                    sa.select(c.args).where(c.chain_id == chain_id, c.token_id == token_id, c.name == "Transfer")
                ).scalars()
                moves[token_id] = sum(1 for args in transfers if json.loads(args)["from"] != ZERO)
            status = listing_status(names, moves[token_id], int(signed_nonce))
            conn.execute(t.listings.update().where(x.listing_hash == listing_hash).values(status=status))

    # sign-in ----------------------------------------------------------------------------------------------
    def add_nonce(
        self, nonce: str, now: float, expires_at: float, client: str = "", *, max_total: int = 0, max_client: int = 0
    ) -> str:
        """Drop used and expired nonces, then store this one for ``client`` unless ``client`` holds ``max_client``
        outstanding (unused, unexpired) nonces already, or all clients ``max_total`` (0: no limit). Returns ""
        when stored, else the limit that was reached: "client" or "total". So the table holds at most
        ``max_total`` outstanding nonces, and the used ones since the last call."""
        n = t.nonces.c
        with self._tx(write=True) as conn:
            conn.execute(t.nonces.delete().where(sa.or_(n.expires_at < now, n.used_at.is_not(None))))
            for limit, name, where in ((max_client, "client", n.client == client), (max_total, "total", sa.true())):
                count = sa.select(sa.func.count()).select_from(t.nonces).where(where)
                if limit and conn.execute(count).scalar_one() >= limit:
                    return name
            conn.execute(
                t.nonces.insert().values(
                    nonce=nonce, created_at=now, expires_at=expires_at, used_at=None, client=client
                )
            )
        return ""

    def use_nonce(self, nonce: str, now: float) -> bool:
        """Mark the nonce used if it exists, is unused and unexpired; True only for the one caller that did."""
        n = t.nonces.c
        with self._tx(write=True) as conn:
            stmt = (
                t.nonces.update()
                .where(n.nonce == nonce, n.used_at.is_(None), n.expires_at >= now)
                .values(used_at=now)
            )
            return conn.execute(stmt).rowcount == 1

    def add_session(
        self, session_id: str, address: str, chain_id: int, secret_hash: str, now: float, expires_at: float
    ) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                t.sessions.insert().values(
                    id=session_id,
                    address=address,
                    chain_id=chain_id,
                    secret_hash=secret_hash,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.sessions).where(t.sessions.c.id == session_id)).mappings().first()
        return None if row is None else dict(row)

    # payout addresses ---------------------------------------------------------------------------------------
    def set_payout(self, principal: str, address: str) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                self._insert(t.payouts)
                .values(principal=principal, address=address)
                .on_conflict_do_update(index_elements=["principal"], set_={"address": address})
            )

    def payout(self, principal: str) -> str | None:
        with self._tx() as conn:
            return conn.execute(
                sa.select(t.payouts.c.address).where(t.payouts.c.principal == principal)
            ).scalar()
