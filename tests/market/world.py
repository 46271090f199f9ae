"""A small real world for market tests: a store (SQLite + local blobs) with one space, one world owned by server
"alpha", and one snapshot whose players name wallets and whose frames and players hold one far outlier each;
plus a simple real rarity (k-th nearest neighbour distance, ranked within the snapshot) and SIWE helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import torch
from eth_account import Account
from eth_account.messages import encode_defunct

from multiverse.blobs import open_blob_store
from multiverse.metadata import open_metadata
from multiverse.records import ROLE_ADMIN, ROLE_SERVER, SpaceRecord
from multiverse.state.format import decode_state, encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest, Store

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8, max_players=8)
FRAMES, PLAYERS = 24, 4
OUTLIER_FRAME, OUTLIER_PLAYER = 5, 1
ADMIN = Principal("admin", ROLE_ADMIN)
ALPHA = Principal("alpha", ROLE_SERVER)


@dataclass
class Saved:
    store: Store
    snapshot: str
    wallets: list[str | None]  # per player


def make_store(tmp: Path, wallets: list[str | None]) -> Saved:
    tmp.mkdir(parents=True, exist_ok=True)
    meta = open_metadata(f"sqlite:///{tmp / 'meta.db'}")
    store = Store(meta, open_blob_store(str(tmp / "blobs")), tmp / "spool")
    store.register_space(ADMIN, SPACE)
    store.create_world(ADMIN, "w", "demo", owner="alpha")
    data = make_state(wallets)
    record, _ = store.save(ALPHA, SaveRequest(world="w", size=len(data)), [data])
    return Saved(store, record.id, wallets)


def make_state(wallets: list[str | None]) -> bytes:
    """The state file: seeded frames and player vectors with one far outlier each; players name ``wallets``."""
    g = torch.Generator().manual_seed(7)
    frames = torch.randn((FRAMES, *SPACE.frame_shape), generator=g)
    frames[OUTLIER_FRAME] += 40.0  # far from every other frame: the rarest
    vectors = torch.randn((PLAYERS, SPACE.player_dim), generator=g)
    vectors[OUTLIER_PLAYER] -= 40.0
    people = []
    for i, wallet in enumerate(wallets):
        p = {
            "uuid": f"00000000-0000-4000-8000-00000000000{i + 1}",
            "name": f"p{i}",
            "stats": {"Health": 20.0},
        }
        if wallet:
            p["wallet"] = wallet
        people.append(p)
    return encode_state(frames.half(), vectors.half(), space="demo", players=people, timeline=[])


class KnnRarity:
    """A simple real rarity: the k-th nearest neighbour distance of a vector among the vectors of its kind in its
    snapshot, as a percentile by rank; tiers as multiverse.rarity names them."""

    def __init__(self, store: Store, k: int = 2) -> None:
        self.store, self.k = store, k

    def __call__(self, space: str, snapshot: str, kind: str, index: int) -> tuple[str, float]:
        tensors, _ = decode_state(self.store.blobs.read(self.store.meta.get_snapshot(snapshot).state))
        x = (tensors["frames"] if kind == "frame" else tensors["players"]).float().flatten(1)
        d = torch.cdist(x, x).sort(dim=1).values[:, min(self.k, len(x) - 1)]
        percentile = 100.0 * float((d <= d[index]).sum() - 1) / max(1, len(x) - 1)
        tier = next(
            name
            for name, lower in (
                ("legendary", 99.9),
                ("epic", 99),
                ("rare", 90),
                ("uncommon", 50),
                ("common", 0),
            )
            if percentile >= lower
        )
        return tier, percentile


def siwe_message(
    address: str,
    nonce: str,
    chain_id: int,
    *,
    domain: str = "gallery.test",
    uri: str = "https://gallery.test/login",
    expires_in: timedelta | None = timedelta(minutes=5),
    not_before: datetime | None = None,
) -> str:
    from siwe import SiweMessage

    now = datetime.now(UTC)
    fields = {
        "domain": domain,
        "address": address,
        "uri": uri,
        "version": "1",
        "chain_id": chain_id,
        "nonce": nonce,
        "issued_at": now.isoformat().replace("+00:00", "Z"),
        "statement": "Sign in to Multiverse",
    }
    if expires_in is not None:
        fields["expiration_time"] = (now + expires_in).isoformat().replace("+00:00", "Z")
    if not_before is not None:
        fields["not_before"] = not_before.isoformat().replace("+00:00", "Z")
    return SiweMessage(**fields).prepare_message()


def personal_sign(key: str, message: str) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=message), key).signature).hex()
