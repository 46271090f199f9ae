"""Market commands of the `multiverse` CLI: wallets, claims, tokens, listings, purchases, downloads.

A wallet is a private key in a file (`multiverse wallet new FILE`, mode 0600); commands that act as the wallet take
`--wallet-key FILE` (or $MULTIVERSE_WALLET_KEY, a path), sign in with it (EIP-4361) and sign listings and
transactions locally. The key is never sent to the service nor printed. On-chain steps go to the JSON-RPC URL the
service announces (the embedded chain's) unless `--rpc URL` names another node.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from multiverse import errors

ETHER = 10**18
TIERS = ["", "common", "uncommon", "rare", "epic", "legendary"]


def add_market_commands(
    sub: Any, client: Callable[[argparse.Namespace], Any], show: Callable[[Any], None]
) -> None:
    """Register the market's commands on ``sub`` (the CLI's subparsers); ``client(args)`` makes a Client and
    ``show(message)`` prints a protobuf message as JSON."""

    def with_wallet(p: argparse.ArgumentParser, required: bool = True, rpc: bool = True) -> None:
        p.add_argument(
            "--wallet-key",
            type=Path,
            default=None,
            metavar="FILE",
            help="the wallet's private key file (default $MULTIVERSE_WALLET_KEY)"
            + ("" if required else "; signs in as it"),
        )
        if rpc:
            p.add_argument(
                "--rpc",
                default="",
                help="chain JSON-RPC URL for transactions (default: the one the service announces)",
            )
        p.set_defaults(wallet_required=required)

    def signed_in(a: argparse.Namespace) -> tuple[Any, str | None]:
        c = client(a)
        key = _wallet_key(a)
        if key is not None:
            c.sign_in_with_key(key)
        return c, key

    rare = sub.choices.get("rare")  # registered before the market's commands (cli/main.py)
    if rare is not None:  # a player has no API key: `rare --wallet-key FILE` reads as the wallet (public worlds)
        with_wallet(rare, required=False, rpc=False)

        def read_rare(a: argparse.Namespace) -> None:
            from multiverse.cli.commands import rare as print_rare

            c, key = signed_in(a)
            if key is not None:
                c.read_as_wallet()
            print_rare(a, c)

        rare.set_defaults(run=read_rare)

    wallet = sub.add_parser("wallet", help="local wallets (a private key in a file)").add_subparsers(
        required=True, metavar="ACTION"
    )
    new = wallet.add_parser("new", help="create a wallet key file (mode 0600); prints the address")
    new.add_argument("file", type=Path)
    new.set_defaults(run=_wallet_new)
    addr = wallet.add_parser("address", help="the address of a wallet key file")
    with_wallet(addr)
    addr.set_defaults(run=lambda a: print(_address_of(_require_key(a))))
    fund = wallet.add_parser(
        "fund", help="development chains only (the in-process EVM, anvil): ether from their well-known funded key"
    )
    with_wallet(fund)
    fund.add_argument(
        "--amount", default="10ether", help="ether as a decimal (10.0 or 10ether) or whole wei (default 10ether)"
    )
    fund.set_defaults(run=lambda a: _fund(a, client(a)))

    info = sub.add_parser("chain", help="the market's chain: chain id, contracts, JSON-RPC URL for wallets")
    info.set_defaults(run=lambda a: show(client(a).chain_info()))

    claim = sub.add_parser("claim", help="claim a rare vector you discovered as a token in your wallet")
    claim.add_argument("snapshot", help="the snapshot's id as `multiverse rare` prints it (or a unique prefix, with an API key)")
    claim.add_argument("--kind", required=True, choices=["frame", "player"])
    claim.add_argument("--index", required=True, type=int, help="the vector's row in the snapshot")
    claim.add_argument("--space", default="", help="latent space (default: the snapshot's)")
    with_wallet(claim)

    def run_claim(a: argparse.Namespace) -> None:
        c = signed_in(a)[0]
        show(c.claim(_full_snapshot_id(c, a.snapshot), a.kind, a.index, a.space))

    claim.set_defaults(run=run_claim)

    tokens = sub.add_parser("tokens", help="claimed tokens, by owner, space and tier")
    tokens.add_argument("--owner", default="", help="an address, or `me` for the --wallet-key's")
    tokens.add_argument("--space", default="")
    tokens.add_argument("--tier", default="", choices=TIERS)
    tokens.add_argument("--limit", type=int, default=100)
    with_wallet(tokens, required=False)
    tokens.set_defaults(run=lambda a: _tokens(a, signed_in(a)[0]))

    token = sub.add_parser("token", help="one token")
    token.add_argument("token_id")
    with_wallet(token, required=False)
    token.set_defaults(run=lambda a: show(signed_in(a)[0].get_token(a.token_id)))

    verify = sub.add_parser(
        "verify", help="recompute the rarity a token was minted with and check it against the chain (exit 1 on a "
        "mismatch, 2 when it cannot be checked)")
    verify.add_argument("token_id")
    with_wallet(verify, required=False)
    verify.set_defaults(run=lambda a: _verify(signed_in(a)[0], a.token_id))

    history = sub.add_parser("history", help="a token's chain events (mint, transfers, sales)")
    history.add_argument("token_id")
    with_wallet(history, required=False)
    history.set_defaults(run=lambda a: _history(signed_in(a)[0].history(a.token_id)))

    listings = sub.add_parser("listings", help="signed listings")
    listings.add_argument("--token", default="", dest="token_id")
    listings.add_argument("--seller", default="")
    listings.add_argument("--status", default="active", choices=["active", "sold", "cancelled", "stale"])
    with_wallet(listings, required=False)
    listings.set_defaults(run=lambda a: _listings(a, signed_in(a)[0]))

    sell = sub.add_parser(
        "list", help="list a token of yours for sale at a fixed price (approves the exchange once)"
    )
    sell.add_argument("token_id")
    sell.add_argument(
        "--price", required=True, help="ether as a decimal (0.5, or 0.5ether), or whole wei (1000 or 1000wei)"
    )
    sell.add_argument("--expiry", type=int, default=0, help="unix seconds (default: the market's)")
    with_wallet(sell)

    def run_sell(a: argparse.Namespace) -> None:
        c, key = signed_in(a)
        listed = c.list_token(a.token_id, _wei("--price", a.price), key, expiry=a.expiry, rpc_url=a.rpc)
        print(json.dumps({**_as_dict(listed), "price_ether": ether(int(listed.price))}, indent=2))

    sell.set_defaults(run=run_sell)

    buy = sub.add_parser("buy", help="buy a token from its cheapest active listing (or --listing HASH)")
    buy.add_argument("token_id")
    buy.add_argument("--listing", default="", help="a listing hash (default: the cheapest active listing)")
    buy.add_argument(
        "--max-price",
        default=None,
        help="the most you pay: ether as a decimal (1.5, or 1.5ether), or whole wei (default: the listing's price)",
    )
    with_wallet(buy)

    def run_buy(a: argparse.Namespace) -> None:
        c, key = signed_in(a)
        limit = None if a.max_price is None else _wei("--max-price", a.max_price)
        p = c.buy(a.token_id, key, listing_hash=a.listing, max_price=limit, rpc_url=a.rpc)
        print(
            json.dumps(
                {
                    "token_id": p.token_id,
                    "listing_hash": p.listing_hash,
                    "price": str(p.price),
                    "price_ether": ether(p.price),
                    "tx_hash": p.tx_hash,
                    "gas_used": p.gas_used,
                },
                indent=2,
            )
        )

    buy.set_defaults(run=run_buy)

    download = sub.add_parser(
        "download", help="download the full matrix of a token you own (canonical bytes)"
    )
    download.add_argument("token_id")
    download.add_argument("file", type=Path)
    with_wallet(download)

    def run_download(a: argparse.Namespace) -> None:
        token, data = signed_in(a)[0].download_vector(a.token_id, a.file)
        print(
            f"wrote {a.file} ({len(data)} bytes, {token.dtype} {list(token.shape)}, sha256 {token.token_id})"
        )

    download.set_defaults(run=run_download)

    payout = sub.add_parser(
        "payout", help="set the wallet that claims frames of a server's worlds (admin or server key)"
    )
    payout.add_argument("address")
    payout.add_argument("--principal", default="", help="the server (default: the key's own)")
    payout.set_defaults(
        run=lambda a: (
            client(a).set_payout_address(a.address, a.principal),
            print(f"payout address {a.address}"),
        )[-1]
    )


def _verify(client: Any, token_id: str) -> int:
    """Print the verification as JSON; the exit status: 0 verified, 1 mismatch, 2 unverifiable."""
    reply = client.verify_token(token_id)
    print(json.dumps({
        "token_id": reply.token_id, "status": reply.status, "reason": reply.reason,
        "differences": [{"field": d.field, "recorded": json.loads(d.recorded or "null"),
                         "found": json.loads(d.found or "null"), "why": d.why} for d in reply.differences],
        "recorded": json.loads(reply.recorded_json or "{}"), "recomputed": json.loads(reply.recomputed_json or "{}"),
    }, indent=2))
    return {"verified": 0, "mismatch": 1}.get(reply.status, 2)


def _wallet_key(a: argparse.Namespace) -> str | None:
    from multiverse.config import ClientSettings

    path = a.wallet_key or (Path(given) if (given := ClientSettings.from_env().wallet_key) else None)
    if path is None:
        if getattr(a, "wallet_required", False):
            raise errors.InvalidArgument(
                "--wallet-key",
                None,
                "name your wallet's key file (create one with `multiverse wallet new FILE`)",
            )
        return None
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise errors.InvalidArgument(
            "--wallet-key", str(path), f"give a readable key file ({exc.strerror})"
        ) from None
    from multiverse.chain.config import minter_key

    try:
        return minter_key(text).reveal()
    except errors.InvalidArgument:
        raise errors.InvalidArgument(
            "--wallet-key", str(path), "the file must hold one private key, 64 hex digits"
        ) from None


def _require_key(a: argparse.Namespace) -> str:
    a.wallet_required = True
    key = _wallet_key(a)
    assert key is not None
    return key


def _address_of(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key).address


def _wallet_new(a: argparse.Namespace) -> None:
    from eth_account import Account

    path: Path = a.file
    if path.exists():
        raise errors.AlreadyExists(
            f"{path} exists: choose another file (an existing key is never overwritten)"
        )
    account = Account.create()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(account.key.hex() + "\n")
    print(account.address)


def _fund(a: argparse.Namespace, c: Any) -> None:
    key = _require_key(a)
    wei = _wei("--amount", a.amount)
    with c.trader(key, a.rpc) as trader:
        trader.fund_from_dev_account(wei)
        print(f"{trader.address} holds {Decimal(trader.balance()) / ETHER} ether")


def _tokens(a: argparse.Namespace, c: Any) -> None:
    owner = a.owner
    if owner == "me":
        if not c.wallet_address:
            raise errors.InvalidArgument("--owner", "me", "give --wallet-key to name yourself, or an address")
        owner = c.wallet_address
    shown = 0
    for t in c.list_tokens(owner=owner, space=a.space, tier=a.tier):
        if shown >= a.limit:
            break
        shown += 1
        print(f"{t.token_id}  {t.tier:<9} {t.percentile:7.3f}%  {t.space} {t.snapshot} {t.kind}[{t.index}]  "
              f"owner {t.owner or '-'}")
    if not shown:
        whose = " of yours" if owner and owner == c.wallet_address else f" owned by {owner}" if owner else ""
        print(f"no tokens{whose} yet: see what you may claim with `multiverse rare --wallet-key FILE`, then claim one "
              "with `multiverse claim SNAPSHOT --kind player --index N --wallet-key FILE`")


def _history(events: list[Any]) -> None:
    if not events:
        print("no chain events for this token yet")
    for e in events:
        print(f"block {e.block_number:<6} {e.contract:<10} {e.name:<12} tx {e.tx_hash}  {e.args_json}")


def _listings(a: argparse.Namespace, c: Any) -> None:
    found = c.listings(token_id=a.token_id, seller=a.seller, status=a.status)
    if not found:
        print(f"no {a.status} listings{' of token ' + a.token_id if a.token_id else ''}"
              f"{' by ' + a.seller if a.seller else ''}: list a token of yours with "
              "`multiverse list TOKEN_ID --price 0.5 --wallet-key FILE`")
    for x in found:
        print(f"{x.listing_hash}  {x.status:<9} token {x.token_id}  price {ether(int(x.price))} ether  "
              f"seller {x.seller}  expiry {x.expiry}")


def ether(wei: int) -> str:
    """``wei`` in ether, exactly, without trailing zeros: 250000000000000000 -> "0.25"."""
    whole, frac = divmod(int(wei), ETHER)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".") if frac else str(whole)


def _wei(flag: str, text: str) -> int:
    """An amount from the command line: a decimal with a point or the suffix ether/eth is ether ("0.5", "0.5ether");
    a whole number is wei ("1000", or with the suffix wei), gwei with the suffix gwei."""
    raw = str(text).strip().lower().replace("_", "")
    units = next(((suffix, scale) for suffix, scale in (("gwei", 10**9), ("wei", 1), ("ether", ETHER), ("eth", ETHER))
                  if raw.endswith(suffix)), ("", ETHER if "." in raw else 1))
    number = raw.removesuffix(units[0]).strip()
    try:
        value = Decimal(number) * units[1] if number and len(number) <= 100 else Decimal(-1)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value != value.to_integral_value() or value >= 2**256:
        raise errors.InvalidArgument(
            flag, text, "give ether as a decimal (0.5 or 0.5ether) or whole wei (1000000000000000000 or 1000wei)"
        )
    return int(value)


def _as_dict(message: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True)


def _full_snapshot_id(c: Any, given: str) -> str:
    """A snapshot's full id from ``given``: itself when it is one, else the store's answer for a unique prefix (the
    Store reads need an API key: a wallet alone names the full id, as `multiverse rare` prints it)."""
    text = given.strip().lower()
    if len(text) == 64:
        return text
    try:
        return c.get_snapshot(text).id
    except errors.Unauthenticated:
        raise errors.InvalidArgument(
            "snapshot", given, "give the snapshot's full 64-character id, as `multiverse rare --wallet-key FILE` "
            "prints it (a prefix is resolved only with an API key)"
        ) from None
