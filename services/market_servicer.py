"""The Market gRPC service: decode the request, call the domain (multiverse.market), encode the reply."""

from __future__ import annotations

import json

from multiverse.chain import Listing
from multiverse.errors import InvalidArgument
from multiverse.market import ListingRow, Market, SignIn, TokenRow, VectorRef
from multiverse.market.wiring import MarketStack
from multiverse.v1 import market_pb2, market_pb2_grpc
from services.auth import caller


class MarketServicer(market_pb2_grpc.MarketServicer):
    def __init__(self, stack: MarketStack) -> None:
        self.market: Market = stack.market
        self.signin: SignIn = stack.signin
        self.rpc_url = stack.rpc_url

    def GetChainInfo(self, request, context):
        c = self.market.chain.contracts
        return market_pb2.ChainInfo(
            chain_id=c.chain_id, token=c.token, exchange=c.exchange, rpc_url=self.rpc_url, deployed_at=c.deployed_at
        )

    def SignInNonce(self, request, context):
        c = self.signin.config
        return market_pb2.SignInNonceResponse(
            nonce=self.signin.nonce(_client(context)), domain=c.domain, uri=c.uri, chain_id=self.signin.chain_id
        )

    def SignIn(self, request, context):
        token, session = self.signin.sign_in(request.message, request.signature)
        return market_pb2.SignInResponse(token=token, address=session.address, expires_at=session.expires_at)

    def SetPayoutAddress(self, request, context):
        who = caller()
        self.market.set_payout(who, request.principal or who.name, request.address)
        return market_pb2.SetPayoutAddressResponse()

    def Claim(self, request, context):
        who = caller()
        ref = VectorRef(request.space, request.snapshot, request.kind, request.index)
        return self._token(self.market.claim(who, ref))

    def GetToken(self, request, context):
        return self._token(self.market.get_token(request.token_id))

    def VerifyToken(self, request, context):
        return verification_to_pb(self.market.verify(request.token_id))

    def ListTokens(self, request, context):
        tokens, next_token = self.market.token_page(owner=request.owner, space=request.space, tier=request.tier,
                                                     after=request.page_token, limit=request.page_size)
        return market_pb2.ListTokensResponse(
            tokens=[self._token(t) for t in tokens], next_page_token=next_token
        )

    def Listings(self, request, context):
        rows = self.market.listings(token_id=request.token_id, seller=request.seller, status=request.status or "active",
                                    limit=request.page_size)  # the wire's "" is active ones (market.proto)
        return market_pb2.ListingsResponse(listings=[listing_to_pb(r) for r in rows])

    def History(self, request, context):
        events = self.market.history(request.token_id, request.page_size)
        return market_pb2.HistoryResponse(
            events=[
                market_pb2.ChainEventInfo(
                    contract=e.contract,
                    name=e.name,
                    block_number=e.block_number,
                    block_hash=e.block_hash,
                    tx_hash=e.tx_hash,
                    log_index=e.log_index,
                    args_json=json.dumps(e.args, sort_keys=True),
                )
                for e in events
            ]
        )

    def DownloadVector(self, request, context):
        who = caller()
        token, data = self.market.download(who, request.token_id)
        return market_pb2.DownloadVectorResponse(token=self._token(token), data=data, sha256=token.token_id)

    def PrepareListing(self, request, context):
        who = caller()
        prepared = self.market.prepare_listing(
            who, request.token_id, _uint("price", request.price), request.expiry
        )
        row = ListingRow(prepared.digest, self.signin.chain_id, prepared.listing, "", "unsigned", 0.0)
        return market_pb2.PrepareListingResponse(
            listing=listing_to_pb(row),
            typed_data_json=json.dumps(prepared.typed_data),
            digest=prepared.digest,
        )

    def SubmitListing(self, request, context):
        who = caller()
        return listing_to_pb(
            self.market.submit_listing(who, listing_from_pb(request.listing), bytes(request.signature))
        )

    def _token(self, t: TokenRow) -> market_pb2.Token:
        return market_pb2.Token(
            token_id=t.token_id,
            chain_id=t.chain_id,
            contract=self.market.db.token,
            owner=t.owner,
            discoverer=t.discoverer,
            space=t.space,
            snapshot=t.snapshot,
            kind=t.kind,
            index=t.vector_index,
            tier=t.tier,
            percentile=t.percentile,
            dtype=t.dtype,
            shape=list(t.shape),
            mint_tx=t.mint_tx,
            created_at=t.created_at,
            **(t.scoring.__dict__ if t.scoring else {}),
        )


def verification_to_pb(v) -> market_pb2.TokenVerification:
    """A ``multiverse.market.verify.Verification``; recorded and found values travel as JSON."""
    return market_pb2.TokenVerification(
        token_id=v.token_id,
        status=v.status,
        reason=v.reason,
        differences=[
            market_pb2.VerificationDifference(field=d.field, recorded=json.dumps(d.recorded), found=json.dumps(d.found),
                                              why=d.why)
            for d in v.differences
        ],
        recorded_json=json.dumps(v.recorded, sort_keys=True),
        recomputed_json=json.dumps(v.recomputed, sort_keys=True),
    )


def listing_to_pb(row: ListingRow) -> market_pb2.MarketListing:
    x = row.listing
    return market_pb2.MarketListing(
        listing_hash=row.listing_hash,
        seller=x.seller,
        token=x.token,
        token_id=f"{x.token_id:064x}",
        price=str(x.price),
        fee_recipient=x.fee_recipient,
        fee=str(x.fee),
        counter=str(x.counter),
        salt=str(x.salt),
        expiry=str(x.expiry),
        token_nonce=str(x.token_nonce),
        signature=bytes.fromhex(row.signature.removeprefix("0x")),
        status=row.status,
    )


def listing_from_pb(m: market_pb2.MarketListing) -> Listing:
    from multiverse.chain.values import address as _address

    token_id = m.token_id.removeprefix("0x")
    if len(token_id) != 64 or not all(c in "0123456789abcdefABCDEF" for c in token_id):
        raise InvalidArgument("listing.token_id", m.token_id, "give the token id as 64 hex digits")
    return Listing(
        seller=_address("listing.seller", m.seller),
        token=_address("listing.token", m.token),
        token_id=int(token_id, 16),
        price=_uint("listing.price", m.price),
        fee_recipient=_address("listing.fee_recipient", m.fee_recipient or "0x" + "00" * 20),
        fee=_uint("listing.fee", m.fee or "0"),
        counter=_uint("listing.counter", m.counter or "0"),
        salt=_uint("listing.salt", m.salt or "0"),
        expiry=_uint("listing.expiry", m.expiry),
        token_nonce=_uint("listing.token_nonce", m.token_nonce or "0"),
    )


def _uint(field: str, text: str) -> int:
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses
    if not (text.isascii() and text.isdigit()) or len(text) > 78 or int(text) >= 2**256:
        raise InvalidArgument(
            field, text, "give a whole number of wei (or a count) in decimal, e.g. 1000000000000000000"
        )
    return int(text)


def _client(context) -> str:
    """The caller's network address without its port ("ipv4:10.0.0.7", "ipv6:[::1]"): whom nonces are counted for."""
    return (context.peer() or "").rpartition(":")[0]
