"""A live gateway for the HTTP tests: the embedded App with the market (tests/market/stack.py's settings: in-process
EVM, real rarity engine) served by uvicorn on 127.0.0.1:0 through services/http/server.py.

    with serve_gallery(tmp_path) as g:          # ~ a few seconds
        httpx.get(g.url + "/api/rare").json()

What it holds: space "demo" (frames (4, 3, 2), player vectors of 8), world ``g.public`` ("pub", public, owned by
server "alpha") with two scored snapshots ``g.snapshots`` (oldest first; the second's parent is the first) whose
players 0 and 1 name alice's and bob's wallets, and world ``g.private`` ("priv", private) with one scored
snapshot ``g.hidden``, which no public read may show. ``g.wallets``: alice, bob and dave, funded on the chain.
Each state holds one far outlier frame (``OUTLIER_FRAME``) and player (``OUTLIER_PLAYER``), so the rarest vectors
are known. ``rate``/``burst``: the gateway's per-address rate limit (default: high enough never to bite).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from eth_account import Account

from multiverse.app import App
from multiverse.chain.wallet import LocalWallet
from multiverse.records import PUBLIC
from multiverse.state.format import encode_state
from multiverse.store.store import SaveRequest
from services.http.app import Gateway, create_app
from services.http.server import HttpServer, bind, url_of
from tests.chain.harness import ETHER, key_for
from tests.market.stack import settings as market_settings
from tests.market.world import ADMIN, ALPHA, SPACE

FRAMES, PLAYERS = 24, 4
OUTLIER_FRAME, OUTLIER_PLAYER = 5, 1


@dataclass
class Gallery:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    app: App
    gateway: Gateway
    wallets: dict[str, LocalWallet]
    snapshots: list[str]  # the public world's, oldest first
    hidden: str  # the private world's snapshot
    public: str = "pub"
    private: str = "priv"
    space: str = SPACE.name


def state(seed: int, wallets: list[str | None]) -> bytes:
    """A state of space "demo": seeded frames and players with one far outlier each; players name ``wallets``."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn((FRAMES, *SPACE.frame_shape), generator=g)
    frames[OUTLIER_FRAME] += 40.0 + seed
    vectors = torch.randn((PLAYERS, SPACE.player_dim), generator=g)
    vectors[OUTLIER_PLAYER] -= 40.0 + seed
    people = [{"uuid": f"00000000-0000-4000-8000-00000000{seed:02d}{i:02d}", "name": f"p{i}",
               "stats": {"Health": 20.0}, **({"wallet": w} if w else {})} for i, w in enumerate(wallets)]
    return encode_state(frames.half(), vectors.half(), space=SPACE.name, players=people, timeline=[])


def _save(app: App, world: str, data: bytes, parent: str = "") -> str:
    record, _ = app.store.save(ALPHA, SaveRequest(world=world, size=len(data), expected_parent=parent), [data])
    return record.id


@contextmanager
def serve_gallery(tmp: Path, *, rate: float = 1e6, burst: int = 1_000_000, **overrides: Any) -> Iterator[Gallery]:
    """The App on ``tmp`` with the worlds above, served by the gateway (``overrides``: more Settings fields)."""
    sock = bind("127.0.0.1:0", fallback=False)
    url = url_of(sock)
    app = App.open(replace(market_settings(tmp), http_rate=rate, http_burst=burst, **overrides))
    server = None
    try:
        chain = app.market.chain
        wallets = {}
        for name in ("alice", "bob", "dave"):
            chain.fund(Account.from_key(key_for(name)).address, 100 * ETHER)
            wallets[name] = LocalWallet(chain, key_for(name))
        app.store.register_space(ADMIN, SPACE)
        app.store.create_world(ADMIN, "pub", SPACE.name, owner="alpha", visibility=PUBLIC)
        app.store.create_world(ADMIN, "priv", SPACE.name, owner="alpha")
        named = [wallets["alice"].address, wallets["bob"].address, None, None]
        first = _save(app, "pub", state(1, named))
        second = _save(app, "pub", state(2, named), parent=first)
        hidden = _save(app, "priv", state(3, named))
        for snapshot in (first, second, hidden):
            assert app.rarity.wait_scored(snapshot, timeout=60)
        gateway = Gateway(app, url)
        server = HttpServer(create_app(gateway), sock).start()
        yield Gallery(url, app, gateway, wallets, [first, second], hidden)
    finally:
        if server is not None:
            server.stop()
        else:
            sock.close()
        app.close()
