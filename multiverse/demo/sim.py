"""Simulated game servers: tileworld bots play a map and the server saves it through ``multiverse.client``.

    multiverse sim --server aurora --ticks 64            # against the service at --grpc / $MULTIVERSE_GRPC

A simulated server talks to the service only over gRPC, like any real game server: it makes sure the
latent space ``tileworld-v1`` is registered (an admin key registers it; a server key needs it there),
creates its world (or resumes the world's head: the last frame decoded back to tiles, the players where
the state left them), then every tick moves its bots (``tileworld.bots``) and every ``save_every`` ticks
saves a state: the latent frames of those ticks (the reference model's encoder), the players' stats
JSON and trajectory vectors, and now and then a guidance text about what happened. Saves are
compare-and-swap on the head the server last saw. Every other player carries a wallet whose private key is
``tileworld.bots.wallet_key(seed, name)``, so whoever knows the seed (the demo) can claim its rare vectors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from multiverse import errors
from multiverse.state.format import decode_state, encode_state

Log = Callable[[str], None]
SPACE = "tileworld-v1"  # tileworld.SPACE_NAME, without loading the model


@dataclass(frozen=True)
class SimConfig:
    """One simulated server. ``world`` defaults to the server's name; ``strange`` bots spin or teleport."""

    server: str
    ticks: int = 64
    seed: int = 0
    players: int = 4
    strange: int = 1
    save_every: int = 8
    text_every: int = 4  # at most one guidance text per this many ticks
    tick_seconds: float = 0.0  # pause between ticks (0: as fast as it goes)
    world: str = ""
    visibility: str = ""  # of a world it creates: "" private (the store's default), "public" for the gallery

    @property
    def world_name(self) -> str:
        return self.world or self.server


@dataclass
class SimResult:
    """What a run did: the world, the snapshot ids it saved (oldest first) and the ticks it played."""

    world: str
    snapshots: list[str] = field(default_factory=list)
    ticks: int = 0
    resumed_from: str = ""
    strange: list[str] = field(default_factory=list)  # names of the bots that spin or teleport


def space_fields() -> dict:
    """Keyword arguments of ``Client.register_space`` for tileworld-v1 (from the committed model's card)."""
    from multiverse.tileworld import space_spec

    spec = space_spec()
    return {"name": spec["name"], "frame_shape": spec["frame_shape"], "dtype": spec["dtype"],
            "player_dim": spec["player_dim"], "model": spec["model"], "version": spec["version"], "max_players": 64,
            "decoder": spec["decoder"], "reference_json": json.dumps(spec["reference"], sort_keys=True)}


def ensure_space(client) -> str:
    """Register tileworld-v1 unless the service has it; returns its name. Needs an admin key the first time."""
    fields = space_fields()
    try:
        space = client.get_space(fields["name"])
    except errors.NotFound:
        try:
            client.register_space(**fields)
        except errors.PermissionDenied:
            raise errors.FailedPrecondition(
                f"latent space {fields['name']} is not registered and this key may not register it: run "
                "`multiverse sim` once with the admin key, or ask the admin to"
            ) from None
        return fields["name"]
    if tuple(space.frame_shape) != tuple(fields["frame_shape"]) or space.player_dim != fields["player_dim"]:
        raise errors.FailedPrecondition(
            f"latent space {space.name} on the service has frame shape {tuple(space.frame_shape)} and player_dim "
            f"{space.player_dim}, but this model makes {tuple(fields['frame_shape'])} and {fields['player_dim']}"
        )
    return space.name


def ensure_world(client, name: str, owner: str, space: str, visibility: str = "") -> str:
    """Create the world (owned by ``owner``, with ``visibility``: "public" lets the gallery show it) unless it
    exists; returns its current head ('' when empty)."""
    try:
        world = client.get_world(name)
    except errors.NotFound:
        world = client.create_world(name, space, owner=owner, description=f"simulated game server {owner}",
                                    visibility=visibility)
    if world.space != space:
        raise errors.FailedPrecondition(f"world {name!r} lives in space {world.space}, not {space}: pick another --world")
    return client.heads(name).get("main", "")


def resume(client, head: str, server) -> None:
    """Continue from a saved state: its last frame decoded to tiles; bots (by uuid) where it left them."""
    from multiverse.tileworld import decode_latents

    _, data = client.load_snapshot(head)
    tensors, info = decode_state(data)
    server.tiles = decode_latents(tensors["frames"][-1:])[0]
    server.place({p["uuid"]: (int(p["stats"]["Pos"][2]), int(p["stats"]["Pos"][0]))
                  for p in info.players if "Pos" in p.get("stats", {})})


def run_sim(client, cfg: SimConfig, log: Log = print) -> SimResult:
    """Play ``cfg.ticks`` ticks and save every ``cfg.save_every``; returns what was saved."""
    from multiverse.tileworld import SPACE_NAME, encode_maps, generate_map
    from multiverse.tileworld.bots import Server

    for name, value in (("ticks", cfg.ticks), ("save_every", cfg.save_every), ("players", cfg.players)):
        if value < 1:
            raise errors.InvalidArgument(name, value, f"use --{name.replace('_', '-')} of at least 1")
    if not 0 <= cfg.strange <= cfg.players:
        raise errors.InvalidArgument("strange", cfg.strange, f"use --strange from 0 to --players ({cfg.players})")
    ensure_space(client)
    head = ensure_world(client, cfg.world_name, cfg.server, SPACE_NAME, cfg.visibility)
    server = Server(cfg.server, generate_map(cfg.seed), seed=cfg.seed, players=cfg.players, strange=cfg.strange)
    result = SimResult(cfg.world_name, resumed_from=head,
                       strange=[b.name for b in server.bots if b.behaviour != "wanderer"])
    if head:
        resume(client, head, server)
        log(f"{cfg.server}: resuming world {cfg.world_name} from {head[:12]}")
    maps: list[np.ndarray] = []
    timeline: list[dict] = []
    last_text = -cfg.text_every
    for tick in range(cfg.ticks):
        tiles, events = server.tick()
        maps.append(tiles)
        if events and tick - last_text >= cfg.text_every:
            timeline.append({"frame": len(maps) - 1, "text": events[0]})
            last_text = tick
        if len(maps) == cfg.save_every or tick == cfg.ticks - 1:
            head = _save(client, cfg, server, maps, timeline, head, encode_maps)
            result.snapshots.append(head)
            texts = f"{len(timeline)} guidance text{'' if len(timeline) == 1 else 's'}"
            log(f"{cfg.server}: tick {tick + 1} saved {cfg.world_name} snapshot {head[:12]} "
                f"({len(maps)} frames, {len(server.bots)} players, {texts})")
            maps, timeline = [], []
        result.ticks = tick + 1
        if cfg.tick_seconds:
            time.sleep(cfg.tick_seconds)
    return result


def _save(client, cfg: SimConfig, server, maps, timeline, head: str, encode_maps) -> str:
    from multiverse.tileworld import SPACE_NAME

    frames = encode_maps(np.stack(maps))  # (T, C, h, w) float32
    vectors = torch.from_numpy(server.vectors())  # (P, PLAYER_DIM) float32
    state = encode_state(frames, vectors, space=SPACE_NAME, players=server.records(), timeline=timeline)
    reply = client.save_snapshot(cfg.world_name, state, expected_parent=head,
                                 idempotency_key=f"sim-{cfg.world_name}-{head[:16] or 'root'}-{server.ticks}")
    return reply.snapshot.id
