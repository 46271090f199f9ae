"""The Market service from Python: wallet sign-in with a local key, claims, tokens, listings, history, downloads,
and (through ``multiverse.chain.trader``) the on-chain steps a wallet takes: approving the exchange and buying.

``Client`` (multiverse/client/client.py) inherits these methods:

    with Client("localhost:50051") as mv:
        mv.sign_in_with_key(key)                    # EIP-4361 with a local key; later market calls use the session
        token = mv.claim(snapshot_id, "player", 1)
        mv.list_token(token.token_id, price=10**18, key=key)
        token, data = mv.download_vector(token.token_id)

A user's key stays on this machine: it signs the sign-in message, listings and transactions locally and is never
sent to the service or printed. Market calls use the wallet session once signed in, else the client's API key; a
client made without an API key uses the session for every call once signed in (``read_as_wallet``).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from multiverse import errors
from multiverse.v1 import market_pb2

ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class Purchase:
    listing_hash: str
    token_id: str
    price: int
    tx_hash: str
    gas_used: int


class MarketCalls:
    """Mixed into ``Client``: expects its ``_market`` stub and ``_call_on`` (errors mapped once, there)."""

    _metadata: tuple[tuple[str, str], ...] = ()  # the Client's: its API key's, or the wallet's (read_as_wallet)
    _wallet_metadata: tuple[tuple[str, str], ...] = ()
    _wallet_address: str = ""

    def _m(self, method: str, request: Any, *, api_key: bool = False) -> Any:
        """Call a Market method with the wallet session (when signed in and ``api_key`` is false) or the API key."""
        metadata = self._wallet_metadata if self._wallet_metadata and not api_key else None
        return self._call_on(self._market, method, request, metadata=metadata)  # type: ignore[attr-defined]

    # sign-in ---------------------------------------------------------------------------------------------
    def chain_info(self) -> market_pb2.ChainInfo:
        """Chain id, token and exchange addresses, and the JSON-RPC URL wallets use (needs no credentials)."""
        return self._m("GetChainInfo", market_pb2.GetChainInfoRequest())

    def sign_in_nonce(self) -> market_pb2.SignInNonceResponse:
        return self._m("SignInNonce", market_pb2.SignInNonceRequest())

    def sign_in(self, message: str, signature: str) -> market_pb2.SignInResponse:
        """Send a signed EIP-4361 message; later market calls use the session it returns."""
        reply = self._m("SignIn", market_pb2.SignInRequest(message=message, signature=signature))
        self._wallet_metadata = (("authorization", f"Bearer {reply.token}"),)
        self._wallet_address = reply.address
        if not self._metadata:  # no API key: every call (rarity reads too) is the wallet's
            self.read_as_wallet()
        return reply

    def read_as_wallet(self) -> None:
        """Make every later call, not only the Market's, speak for the signed-in wallet: a player reads rarity
        with its session (public worlds only), whatever API key the client was made with."""
        if not self._wallet_metadata:
            raise errors.Unauthenticated("sign in with a wallet first (sign_in_with_key)")
        self._metadata = self._wallet_metadata

    def sign_in_with_key(self, key: str, *, ttl: timedelta = timedelta(hours=1)) -> str:
        """Sign in as the wallet of private key ``key`` (for scripts and the CLI); returns its address."""
        from eth_account import Account
        from eth_account.messages import encode_defunct
        from siwe import SiweMessage

        account = _account(key)
        nonce = self.sign_in_nonce()
        now = datetime.now(UTC)
        message = SiweMessage(
            domain=nonce.domain,
            address=account.address,
            uri=nonce.uri,
            version="1",
            chain_id=nonce.chain_id,
            nonce=nonce.nonce,
            issued_at=_iso(now),
            expiration_time=_iso(now + ttl),
            statement="Sign in to Multiverse",
        ).prepare_message()
        signature = Account.sign_message(encode_defunct(text=message), account.key).signature
        return self.sign_in(message, "0x" + bytes(signature).hex()).address

    @property
    def wallet_address(self) -> str:
        """The signed-in wallet ("" before ``sign_in``)."""
        return self._wallet_address

    # claims and tokens ---------------------------------------------------------------------------------
    def set_payout_address(self, address: str, principal: str = "") -> None:
        """Admin or server key: the wallet that claims frames of ``principal``'s worlds (default: the caller)."""
        request = market_pb2.SetPayoutAddressRequest(principal=principal, address=address)
        self._m("SetPayoutAddress", request, api_key=True)

    def claim(self, snapshot: str, kind: str, index: int, space: str = "") -> market_pb2.Token:
        """Mint vector ``kind[index]`` of ``snapshot`` to the signed-in wallet (its discoverer)."""
        request = market_pb2.ClaimRequest(space=space, snapshot=snapshot, kind=kind, index=index)
        return self._m("Claim", request)

    def get_token(self, token_id: str) -> market_pb2.Token:
        return self._m("GetToken", market_pb2.GetTokenRequest(token_id=token_id))

    def list_tokens(
        self, *, owner: str = "", space: str = "", tier: str = "", page_size: int = 100
    ) -> Iterator[market_pb2.Token]:
        """Every token matching the filters, in token id order, fetched page by page."""
        page_token = ""
        while True:
            request = market_pb2.ListTokensRequest(
                owner=owner, space=space, tier=tier, page_size=page_size, page_token=page_token
            )
            page = self._m("ListTokens", request)
            yield from page.tokens
            page_token = page.next_page_token
            if not page_token:
                return

    def verify_token(self, token_id: str) -> market_pb2.TokenVerification:
        """Recompute the token's rarity at mint from what the store keeps and check it against its commitment."""
        return self._m("VerifyToken", market_pb2.VerifyTokenRequest(token_id=token_id))

    def history(self, token_id: str, page_size: int = 100) -> list[market_pb2.ChainEventInfo]:
        return list(
            self._m("History", market_pb2.HistoryRequest(token_id=token_id, page_size=page_size)).events
        )

    def download_vector(self, token_id: str, dest: Path | None = None) -> tuple[market_pb2.Token, bytes]:
        """The token's full matrix (canonical bytes, checked against the token id); only for its owner. With
        ``dest`` the bytes are also written there (beside it first, then renamed)."""
        reply = self._m("DownloadVector", market_pb2.DownloadVectorRequest(token_id=token_id))
        digest = hashlib.sha256(reply.data).hexdigest()
        if digest != reply.token.token_id:
            raise errors.Corrupt(
                f"the downloaded matrix hashes to {digest}, not to token {reply.token.token_id}: try again"
            )
        if dest is not None:
            dest = Path(dest)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                tmp.write_bytes(reply.data)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        return reply.token, reply.data

    # listings --------------------------------------------------------------------------------------------
    def listings(
        self, *, token_id: str = "", seller: str = "", status: str = "active", page_size: int = 100
    ) -> list[market_pb2.MarketListing]:
        request = market_pb2.ListingsRequest(
            token_id=token_id, seller=seller, status=status, page_size=page_size
        )
        return list(self._m("Listings", request).listings)

    def prepare_listing(
        self, token_id: str, price: int, expiry: int = 0
    ) -> market_pb2.PrepareListingResponse:
        return self._m(
            "PrepareListing",
            market_pb2.PrepareListingRequest(token_id=token_id, price=str(price), expiry=expiry),
        )

    def submit_listing(self, listing: market_pb2.MarketListing, signature: bytes) -> market_pb2.MarketListing:
        return self._m("SubmitListing", market_pb2.SubmitListingRequest(listing=listing, signature=signature))

    def list_token(
        self, token_id: str, price: int, key: str, *, expiry: int = 0, rpc_url: str = ""
    ) -> market_pb2.MarketListing:
        """Sell a token of the signed-in wallet for ``price`` wei: approve the exchange on the chain if it is not yet
        (a transaction from ``key``'s wallet, through ``rpc_url`` or the market's JSON-RPC), then prepare the
        listing, check and sign its EIP-712 typed data locally, and submit it."""
        from multiverse.chain.listing import listing_digest, sign_listing

        account = _account(key)
        self._require_wallet(account.address)
        with self.trader(key, rpc_url) as trader:
            trader.approve_exchange()
        prepared = self.prepare_listing(token_id, price, expiry)
        listing = listing_from_pb(prepared.listing)
        typed = json.loads(prepared.typed_data_json)
        info = self.chain_info()
        domain = typed.get("domain", {})
        if (
            int(domain.get("chainId", -1)) != info.chain_id
            or str(domain.get("verifyingContract", "")).lower() != info.exchange.lower()
        ):
            raise errors.FailedPrecondition(
                f"the listing's EIP-712 domain {domain} is not this market's exchange {info.exchange} on chain {info.chain_id}: not signed"
            )
        if listing.seller.lower() != account.address.lower() or listing.price != price:
            raise errors.FailedPrecondition(
                f"the prepared listing (seller {listing.seller}, price {listing.price}) is not what was asked: not signed"
            )
        digest = "0x" + listing_digest(listing, info.chain_id, info.exchange).hex()
        if digest != prepared.digest:
            raise errors.FailedPrecondition(
                f"the prepared listing hashes to {digest}, the service says {prepared.digest}: not signed"
            )
        return self.submit_listing(prepared.listing, sign_listing(listing, key, info.chain_id, info.exchange))

    def buy(
        self,
        token_id: str,
        key: str,
        *,
        listing_hash: str = "",
        max_price: int | None = None,
        rpc_url: str = "",
    ) -> Purchase:
        """Buy ``token_id`` from its cheapest active listing (or the one ``listing_hash`` names) with ``key``'s wallet,
        paying at most ``max_price`` wei (default: the listing's price)."""
        active = self.listings(token_id=token_id)
        chosen = (
            [x for x in active if x.listing_hash == listing_hash]
            if listing_hash
            else sorted(active, key=lambda x: int(x.price))
        )
        if not chosen:
            what = f"listing {listing_hash}" if listing_hash else "an active listing"
            raise errors.NotFound(
                f"token {token_id} has no {what}: see `multiverse listings --token {token_id}`"
            )
        pb = chosen[0]
        listing = listing_from_pb(pb)
        limit = listing.price if max_price is None else max_price
        if listing.price > limit:
            raise errors.FailedPrecondition(
                f"listing {pb.listing_hash} asks {listing.price} wei, above the maximum {limit}: raise --max-price"
            )
        with self.trader(key, rpc_url) as trader:
            receipt = trader.buy(listing, bytes(pb.signature), limit)
        return Purchase(
            pb.listing_hash,
            pb.token_id,
            listing.price,
            "0x" + bytes(receipt["transactionHash"]).hex(),
            int(receipt["gasUsed"]),
        )

    def trader(self, key: str, rpc_url: str = "") -> Any:
        """``key``'s wallet on the market's chain (``rpc_url``, or the JSON-RPC URL the service announces)."""
        from multiverse.chain.trader import Trader

        info = self.chain_info()
        url = rpc_url or info.rpc_url
        if not url:
            raise errors.InvalidArgument(
                "rpc_url", url, "the service serves no JSON-RPC for wallets: give your node's URL (--rpc)"
            )
        return Trader(
            url,
            key,
            chain_id=info.chain_id,
            token=info.token,
            exchange=info.exchange,
            from_block=info.deployed_at,
        )

    def _require_wallet(self, address: str) -> None:
        if self._wallet_address.lower() != address.lower():
            raise errors.Unauthenticated(
                f"sign in as {address} first (sign_in_with_key), not as {self._wallet_address or 'nobody'}"
            )


def listing_from_pb(m: market_pb2.MarketListing) -> Any:
    """The chain's ``Listing`` of a wire listing (uint256 fields are decimal strings there)."""
    from multiverse.chain.listing import Listing

    def uint(name: str, text: str) -> int:
        if not text.isdigit():
            raise errors.InvalidArgument(
                f"listing.{name}", text, "expected a decimal integer from the service"
            )
        return int(text)

    return Listing(
        seller=m.seller,
        token=m.token,
        token_id=int(m.token_id.removeprefix("0x"), 16),
        price=uint("price", m.price),
        fee_recipient=m.fee_recipient or ZERO,
        fee=uint("fee", m.fee or "0"),
        counter=uint("counter", m.counter or "0"),
        salt=uint("salt", m.salt or "0"),
        expiry=uint("expiry", m.expiry),
        token_nonce=uint("token_nonce", m.token_nonce or "0"),
    )


def _account(key: str) -> Any:
    from eth_account import Account

    from multiverse.chain.config import minter_key

    try:
        secret = minter_key(key)
    except errors.InvalidArgument:
        raise errors.InvalidArgument(
            "wallet key", "(hidden)", "give a private key as 64 hex digits (see `multiverse wallet new`)"
        ) from None
    return Account.from_key(secret.reveal())


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
