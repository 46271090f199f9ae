"""The demo's market step: the discoverer of a rare vector claims it as a token, lists it, a second wallet buys it.

Through ``multiverse.client`` over gRPC and the chain's JSON-RPC, as a player's wallet would:

1. the admin sets the payout address of each game server (who claims the frames of its worlds);
2. the rarest vector at or above the market's tier whose discoverer's key the demo holds is picked: a simulated
   player's wallet (``tileworld.bots.wallet_key`` of the game's seed and the player's name) or a server's payout
   wallet (``wallet_key(seed, "payout/<server>")``); that wallet signs in (EIP-4361) and claims it;
3. the seller (for gas) and a buyer wallet are funded from the development chain's well-known funded key (the
   demo runs on development chains only: the in-process EVM or a local anvil, see ``multiverse.chain.devchain``);
4. the seller approves the exchange and submits a signed EIP-712 listing; the buyer fills it on the chain;
5. once the indexer has seen the sale, the token's owner is the buyer, the buyer downloads the matrix and the
   seller's download is refused.

One log line per step. Private keys stay in a ``Keyring`` and are never printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc

from multiverse import errors
from multiverse.chain.config import Secret
from multiverse.chain.devchain import require_dev_chain
from multiverse.client import Client
from multiverse.state.format import decode_state
from multiverse.tileworld.bots import wallet_address, wallet_key

Log = Callable[[str], None]
TIERS = ("common", "uncommon", "rare", "epic", "legendary")  # lowest first, as multiverse.rarity names them
ETHER = 10**18
PRICE = ETHER // 2  # what the discoverer asks
BUYER_FUNDS, SELLER_GAS = 10 * ETHER, ETHER


class Keyring:
    """The private keys the demo holds, by address. Shows addresses only, never a key."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, Secret]] = {}  # lower-case address -> (address, key)

    def add(self, key: str) -> str:
        address = wallet_address(key)
        self._keys[address.lower()] = (address, Secret(key))
        return address

    def key_of(self, address: str) -> str | None:
        entry = self._keys.get(address.lower())
        return entry[1].reveal() if entry else None

    def __repr__(self) -> str:
        return f"Keyring({', '.join(a for a, _ in self._keys.values())})"


@dataclass(frozen=True)
class Candidate:
    score: Any  # rarity_pb2.RarityScore
    who: str  # the discoverer, in words: the player's name or "<server>'s payout wallet"
    wallet: str


def market_step(admin: Client, address: str, cfg: Any, report: Any, say: Log, wait_s: float = 30.0) -> None:
    """Claim, list and buy the rarest claimable vector of the demo (``cfg``: DemoConfig; ``report``: DemoReport)."""
    info = check_chain(admin)
    if info is None:
        _skip(report, say, "(market off)")
        return
    keys = Keyring()
    for server in cfg.servers:
        admin.set_payout_address(keys.add(wallet_key(cfg.seed, f"payout/{server}")), principal=server)
    say(f"market on chain {info.chain_id} (RareVector {info.token}, Exchange {info.exchange}); payout wallets set "
        f"for {', '.join(cfg.servers)}; vectors of tier {cfg.min_tier} or rarer may be claimed")
    seeds = [cfg.seed + i for i in range(len(cfg.servers))]  # the seed of each simulated server (demo.play)
    for pick in candidates(admin, cfg, keys, seeds):
        key = keys.key_of(pick.wallet)
        assert key is not None  # candidates() returns only wallets whose keys are in the keyring
        with Client(address, tls=cfg.tls) as seller:
            token = claim(seller, key, pick, say)
            if token is None:
                continue  # claimed already (an earlier run on the same data): the next one
            trade(admin, address, cfg, seller, key, token, pick, report, say, wait_s)
        return
    _skip(report, say, f"found no vector of tier {cfg.min_tier} or rarer whose discoverer's wallet the demo holds")


def check_chain(admin: Client) -> Any:
    """The market's ChainInfo, or None when the service runs without a market. FailedPrecondition, naming the
    chain id, when it is not a development chain (devchain): the demo mints tokens, spends the minter's ether and
    funds its wallets from a key everyone knows."""
    try:
        info = admin.chain_info()
    except errors.MultiverseError as exc:
        if getattr(exc, "code", None) != grpc.StatusCode.UNIMPLEMENTED:
            raise
        return None
    require_dev_chain(info.chain_id, "the demo")
    return info


def candidates(admin: Client, cfg: Any, keys: Keyring, seeds: list[int]) -> list[Candidate]:
    """Scored vectors at or above ``cfg.min_tier`` whose discoverer's key is in ``keys`` (player wallets are added
    as they are found), rarest first, players before frames on a tie."""
    from multiverse.demo.sim import SPACE

    floor = TIERS.index(cfg.min_tier)
    scores = [s for kind in ("player", "frame") for s in admin.top_rare(SPACE, kind=kind, limit=50).items
              if s.tier in TIERS and TIERS.index(s.tier) >= floor]
    scores.sort(key=lambda s: (-s.percentile, s.id.kind != "player"))
    players: dict[str, list[dict]] = {}
    owners: dict[str, str] = {}
    out = []
    for s in scores:
        if s.id.kind == "player":
            if s.id.snapshot not in players:
                players[s.id.snapshot] = decode_state(admin.load_snapshot(s.id.snapshot)[1])[1].players
            record = players[s.id.snapshot][s.id.index]
            wallet = record.get("wallet") or ""
            for seed in seeds:  # a simulated player's wallet: its key comes from the game's seed and its name
                if wallet and keys.key_of(wallet) is None:
                    key = wallet_key(seed, record["name"])
                    if wallet_address(key).lower() == wallet.lower():
                        keys.add(key)
            if wallet and keys.key_of(wallet) is not None:
                out.append(Candidate(s, record["name"], wallet))
        else:
            owner = owners.setdefault(s.world, admin.get_world(s.world).owner)
            wallet = wallet_address(wallet_key(cfg.seed, f"payout/{owner}")) if owner in cfg.servers else ""
            if wallet:
                out.append(Candidate(s, f"{owner}'s payout wallet", wallet))
    return out


def claim(seller: Client, key: str, pick: Candidate, say: Log) -> Any:
    """Sign in as the discoverer and claim ``pick``; the token, or None when that matrix was claimed before."""
    s = pick.score
    seller.sign_in_with_key(key)
    say(f"{pick.who} signed in with wallet {seller.wallet_address} (EIP-4361) to claim {s.id.kind} vector "
        f"{s.id.snapshot[:12]} #{s.id.index} of world {s.world}: tier {s.tier}, percentile {s.percentile:.1f}")
    try:
        token = seller.claim(s.id.snapshot, s.id.kind, s.id.index)
    except errors.AlreadyExists:
        say(f"{pick.who}'s vector was claimed before (an earlier run on this data): trying the next rarest")
        return None
    say(f"{pick.who} claimed it: token {token.token_id[:16]}... ({token.tier}) minted to {token.owner} "
        f"in transaction {token.mint_tx[:14]}...")
    return token


def trade(admin: Client, address: str, cfg: Any, seller: Client, seller_key: str, token: Any, pick: Candidate,
          report: Any, say: Log, wait_s: float) -> None:
    """Fund the wallets, list the token, buy it with a second wallet, then check who owns it and who may download."""
    tid = token.token_id
    buyer_key = wallet_key(cfg.seed, "buyer")  # a second wallet of the demo's
    buyer_address = wallet_address(buyer_key)
    with admin.trader(buyer_key) as wallet:
        wallet.fund_from_dev_account(BUYER_FUNDS)
        wallet.fund_from_dev_account(SELLER_GAS, to=seller.wallet_address)
    say(f"funded from the dev chain's account: buyer {buyer_address} {_ether(BUYER_FUNDS)} ether, "
        f"seller {seller.wallet_address} {_ether(SELLER_GAS)} ether for gas")
    listing = seller.list_token(tid, PRICE, seller_key)
    say(f"{pick.who} listed token {tid[:16]}... for {_ether(PRICE)} ether: EIP-712 listing "
        f"{listing.listing_hash[:14]}... signed by {listing.seller} (exchange approved)")
    with Client(address, tls=cfg.tls) as buyer:
        buyer.sign_in_with_key(buyer_key)
        bought = buyer.buy(tid, buyer_key)
        say(f"buyer {buyer.wallet_address} bought token {tid[:16]}... for {_ether(bought.price)} ether "
            f"(transaction {bought.tx_hash[:14]}..., {bought.gas_used:,} gas)")
        deadline = time.monotonic() + wait_s
        owner = buyer.get_token(tid).owner
        while owner.lower() != buyer_address.lower():  # the indexer follows the chain a moment behind
            if time.monotonic() > deadline:
                raise errors.Unavailable(f"the market still names {owner} as token {tid}'s owner after {wait_s:.0f} s")
            time.sleep(0.2)
            owner = buyer.get_token(tid).owner
        _, data = buyer.download_vector(tid)
        events = [e.name for e in buyer.history(tid)]
    try:
        seller.download_vector(tid)
        raise errors.FailedPrecondition(f"the seller could still download token {tid} after selling it")
    except errors.PermissionDenied:
        pass  # only the owner may download the matrix
    say(f"token {tid[:16]}... now belongs to {owner} (history: {', '.join(events)}); the buyer downloaded its "
        f"matrix ({len(data)} canonical bytes, sha256 checked), the seller's download is refused")
    s = pick.score
    report.token = {"token_id": tid, "kind": s.id.kind, "snapshot": s.id.snapshot, "index": s.id.index,
                    "who": pick.who, "seller": seller.wallet_address, "buyer": buyer_address, "price": bought.price,
                    "listing": listing.listing_hash, "tx": bought.tx_hash}


def _ether(wei: int) -> str:
    return f"{(Decimal(wei) / ETHER).normalize():f}"  # 10 ether -> "10", half an ether -> "0.5"


def _skip(report: Any, say: Log, why: str) -> None:
    report.skipped.append("claim and buy")
    say(f"skipped: claim and buy {why}")
