"""The `make run` demo: two simulated game servers play and save, an admin crosses their worlds, pictures.

Everything goes through ``multiverse.client`` over gRPC, as a real deployment would:

1. the admin registers the latent space ``tileworld-v1`` and an API key per game server;
2. two simulated servers (``multiverse.demo.sim``) play at the same time and save every few ticks;
3. the admin crosses their newest states with two operators (slerp and a spatial crossover);
4. rarity is scored; the discoverer of the rarest claimable vector (a simulated player's wallet, or a server's
   payout wallet for a frame) signs in, claims it as a token and lists it, and a second wallet buys it
   (``multiverse.demo.market``; "skipped: claim and buy (market off)" when the service runs without a market);
5. decoded pictures of parents and children go to ``<data dir>/previews/``.

With a market, the demo runs only on a development chain (the in-process EVM or a local anvil: it mints tokens
and funds wallets from a key everyone knows); on any other chain it refuses before it saves anything.

Each step is one log line. ``run_demo`` returns a ``DemoReport`` of what it did, which the test checks
against the store.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from multiverse import errors
from multiverse.client import Client
from multiverse.demo.market import check_chain
from multiverse.state.format import decode_state
from multiverse.tlsconfig import ClientTls

Log = Callable[[str], None]
OPERATORS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("slerp", {"t": 0.5}, "slerp"),
    ("crossover_mask", {"region": [[-1, 0.5, 1.0]]}, "east"),  # east half of every frame from the second parent
)


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 0
    servers: tuple[str, str] = ("aurora", "bramble")
    ticks: int = 32
    save_every: int = 8
    players: int = 4
    tick_seconds: float = 0.0
    min_tier: str = "rare"  # the market's (MarketConfig.min_tier): the lowest tier the demo tries to claim
    tls: ClientTls | None = None  # how the demo's clients reach a TLS port (None: plaintext)
    gallery: str = ""  # the gallery's URL (multiverse up's HTTP gateway), named in the closing lines when served


@dataclass
class DemoReport:
    """What the demo did: saved snapshots per server world, crossed worlds, pictures and skipped parts."""

    previews_dir: Path
    saved: dict[str, list[str]] = field(default_factory=dict)  # world -> snapshot ids, oldest first
    crossed: dict[str, dict[str, Any]] = field(default_factory=dict)  # child world -> {snapshot, op, parents}
    previews: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    strange: set[str] = field(default_factory=set)  # names of the bots that spin or teleport
    rarest: dict[str, Any] = field(default_factory=dict)  # the rarest player vector, once rarity has landed
    token: dict[str, Any] = field(default_factory=dict)  # the claimed and sold token (demo_market.trade)
    lines: list[str] = field(default_factory=list)


def landed(*modules: str) -> bool:
    """Whether every module exists in this checkout (parts built by other issues are detected at run time)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except ModuleNotFoundError:
        return False


def run_demo(address: str, admin_key: str, data_dir: Path, cfg: DemoConfig = DemoConfig(), log: Log = print) -> DemoReport:
    """Run the demo against the service at ``address`` with the admin's key; returns its report."""
    report = DemoReport(Path(data_dir) / "previews")

    def say(line: str) -> None:
        report.lines.append(line)
        log(line)

    with Client(address, admin_key, tls=cfg.tls) as admin:
        check_chain(admin)  # before anything is saved: refused on a chain that is not a development chain
        play(admin, address, cfg, report, say)
        cross(admin, cfg, report, say)
        write_previews(admin, report, say)
        rarity_step(admin, report, say)
        market_step(admin, address, cfg, report, say)
    a, b = cfg.servers
    data = "" if Path(data_dir) == Path("data") else f" --data {data_dir}"  # where the CLI finds admin.key
    say(f"demo done; the stack keeps serving. Try next, from another terminal: "
        f"mv='.venv/bin/multiverse --grpc {address}{data}'")
    if cfg.gallery:
        token = report.token.get("token_id") if report.token else None
        say(f"open the gallery in a browser: {cfg.gallery}/  (the rarest vectors as pictures"
            + (f"; the token sold: {cfg.gallery}/api/tokens/{token}" if token else "") + ")")
    for line in (f"$mv log {a}                                  # the saves of a simulated game server",
                 f"$mv cross {a} {b} --op slerp --param t=0.3 --name my-world   # spawn a new world",
                 "$mv sim --server carol --ticks 32            # a third game server",
                 f"ls {report.previews_dir}   # decoded pictures of parents and children",
                 *([f"$mv history {report.token['token_id']}   # the token's mint and sale on the chain"]
                   if report.token else [])):
        say(f"  {line}")
    return report


def play(admin: Client, address: str, cfg: DemoConfig, report: DemoReport, say: Log) -> None:
    """Register the space and a key per server, then let the servers play at the same time."""
    from multiverse.demo.sim import SimConfig, ensure_space, run_sim

    space = ensure_space(admin)
    say(f"space {space} registered: 32x32 tile maps -> 8x8x8 float32 latent frames, 16-d player vectors")
    tokens = {name: admin.create_api_key(name).token for name in cfg.servers}
    say(f"API keys created for game servers {', '.join(cfg.servers)}")
    errors: list[BaseException] = []
    lock = threading.Lock()

    def serve(i: int, name: str) -> None:
        sim = SimConfig(server=name, ticks=cfg.ticks, seed=cfg.seed + i, players=cfg.players,
                        save_every=cfg.save_every, tick_seconds=cfg.tick_seconds, visibility="public")
        try:
            with Client(address, tokens[name], tls=cfg.tls) as client:
                result = run_sim(client, sim, log=lambda line: _locked(lock, say, line))
            with lock:
                report.saved[result.world] = result.snapshots
                report.strange.update(result.strange)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread below)
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(i, n), name=f"sim-{n}") for i, n in enumerate(cfg.servers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _locked(lock: threading.Lock, say: Log, line: str) -> None:
    with lock:
        say(line)


def cross(admin: Client, cfg: DemoConfig, report: DemoReport, say: Log) -> None:
    """Cross the servers' newest states with each operator of ``OPERATORS`` into new worlds."""
    a, b = cfg.servers
    parents = [report.saved[a][-1], report.saved[b][-1]]
    tag = hashlib.sha256(" ".join(parents).encode()).hexdigest()[:6]  # new parents, new child worlds
    for op, params, short in OPERATORS:
        name = f"{a}-x-{b}-{short}-{tag}"
        r = admin.cross(parents, name=name, op=op, params=params, seed=cfg.seed)
        admin.set_world_visibility(name, "public")  # the gallery shows the demo's worlds to anyone
        report.crossed[name] = {"snapshot": r.snapshot.id, "op": op, "parents": parents}
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        say(f"admin crossed {a}@{parents[0][:12]} x {b}@{parents[1][:12]} with {op}({shown}) -> world {name} "
            f"snapshot {r.snapshot.id[:12]}{'' if r.created else ' (existing: same recipe)'}")


def write_previews(admin: Client, report: DemoReport, say: Log) -> None:
    """Decode the last frame of every parent and child; write one PNG each and a parent|parent|child strip."""
    from multiverse.demo.previews import render_preview
    from multiverse.demo.sim import SPACE
    from multiverse.tileworld import decode_latents, plausibility, render_png

    report.previews_dir.mkdir(parents=True, exist_ok=True)
    cache: dict[str, np.ndarray] = {}

    def last_frame(snapshot: str) -> np.ndarray:
        if snapshot not in cache:
            _, data = admin.load_snapshot(snapshot)
            cache[snapshot] = decode_latents(decode_state(data)[0]["frames"][-1:])[0]  # (H, W) tile ids
        return cache[snapshot]

    decoder = admin.get_space(SPACE).decoder  # the registered space names the decoder that draws its previews
    for world, ids in report.saved.items():
        _, data = admin.load_snapshot(ids[-1])
        path = report.previews_dir / f"{world}.png"
        path.write_bytes(render_preview(decoder, decode_state(data)[0]["frames"]))
        report.previews.append(path)
    scores = []
    for child, info in report.crossed.items():
        tiles = last_frame(info["snapshot"])
        report.previews.append(render_png(tiles, report.previews_dir / f"{child}.png"))
        family = np.stack([last_frame(p) for p in info["parents"]] + [tiles])  # (3, H, W)
        report.previews.append(render_png(family, report.previews_dir / f"{child}-family.png"))
        scores.append(f"{info['op']} {plausibility(tiles):.2f}")
    say(f"previews: {len(report.previews)} PNG pictures in {report.previews_dir} "
        f"(plausible terrain in the children: {', '.join(scores)})")


def rarity_step(admin: Client, report: DemoReport, say: Log, wait_s: float = 60.0) -> None:
    """Rarity of the demo's player vectors, once the rarity service has landed: the rarest one, its tier."""
    from multiverse.demo.sim import SPACE

    if not landed("services.rarity_servicer") or not hasattr(admin, "top_rare"):
        _skip(report, say, "rarity")
        return
    deadline = time.monotonic() + wait_s
    try:
        while admin.rarity_stats(SPACE).pending and time.monotonic() < deadline:  # scoring runs behind the saves
            time.sleep(0.2)
        top = list(admin.top_rare(SPACE, kind="player", limit=3).items)
    except errors.MultiverseError as exc:
        if getattr(exc, "code", None) != grpc.StatusCode.UNIMPLEMENTED:
            raise
        _skip(report, say, "rarity", "not landed yet (the service does not serve it)")
        return
    if not top:
        _skip(report, say, "rarity", "found no scored player vectors")
        return
    best = top[0]
    _, data = admin.load_snapshot(best.id.snapshot)
    name = decode_state(data)[1].players[best.id.index]["name"]
    kind = "a strange bot" if name in report.strange else "a wanderer"
    report.rarest = {"snapshot": best.id.snapshot, "index": best.id.index, "name": name, "tier": best.tier}
    say(f"rarity scored: rarest player vector is {name} ({kind}) in world {best.world} snapshot "
        f"{best.id.snapshot[:12]} #{best.id.index}: tier {best.tier}, percentile {best.percentile:.1f} "
        f"among {best.n} distinct player vectors")


def market_step(admin: Client, address: str, cfg: DemoConfig, report: DemoReport, say: Log) -> None:
    """The discoverer of a rare vector claims it as a token, lists it, and a second wallet buys it (demo_market)."""
    if not report.rarest:
        _skip(report, say, "claim and buy", "needs a rare vector (rarity skipped)")
        return
    from multiverse.demo.market import market_step as claim_and_buy

    claim_and_buy(admin, address, cfg, report, say)


def _skip(report: DemoReport, say: Log, part: str, why: str = "not landed yet") -> None:
    report.skipped.append(part)
    say(f"skipped: {part} {why}")


def start_demo(address: str, admin_key: str | None, data_dir: Path, cfg: DemoConfig = DemoConfig(tick_seconds=0.2),
               log: Log | None = None, *, min_tier: str | None = None,
               tls: ClientTls | None = None, gallery: str = "") -> threading.Thread:
    """Run the demo in a daemon thread beside a serving stack (``multiverse up``); returns the thread.

    ``admin_key`` None reads ``<data dir>/admin.key``; a wildcard listen address is reached on 127.0.0.1;
    ``min_tier``: the market's lowest claimable tier (the stack's MarketConfig.min_tier), over ``cfg``'s."""
    if min_tier:
        cfg = replace(cfg, min_tier=min_tier)
    if tls is not None:
        cfg = replace(cfg, tls=tls)
    if gallery:
        cfg = replace(cfg, gallery=gallery)
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        address = f"127.0.0.1:{port}"
    key = admin_key or (Path(data_dir) / "admin.key").read_text().strip()
    out = log or (lambda line: print(f"demo       {line}", flush=True))
    out(f"two simulated game servers ({', '.join(cfg.servers)}) play tileworld-v1; "
        f"pictures go to {Path(data_dir) / 'previews'}")

    def main() -> None:
        try:
            run_demo(address, key, data_dir, cfg, out)
        except Exception as exc:  # noqa: BLE001 (the stack keeps serving; say what went wrong)
            out(f"failed: {type(exc).__name__}: {getattr(exc, 'message', exc)}")

    thread = threading.Thread(target=main, name="multiverse-demo", daemon=True)
    thread.start()
    return thread
