"""Bots that play a tileworld map: wander, dig, build; their Minecraft-style stats and trajectory vectors. Pure.

A ``Server`` holds one map ``(H, W)`` and its bots; ``tick()`` moves every bot one step, applies its
action to the map (the tables of ``motion.py``: diggers leave dirt or cobblestone, builders lay planks
and cobblestone) and returns what happened worth a guidance text. Three behaviours:

- ``wanderer`` (most bots): a persistent random walk, as ``motion.Players``;
- ``spinner`` (strange): turns every tick, so it circles a 2x2 block and digs it over and over;
- ``teleporter`` (strange): jumps to a random tile most ticks.

``player_vector`` turns a bot's recent trajectory into ``PLAYER_DIM`` features (``FEATURES`` names them),
each scaled to about [0, 1] for a wanderer, so strange bots land far from the crowd in latent space.
Every other bot, counting back from the last (so every strange bot), carries a wallet whose private key is
``wallet_key(seed, name)``: derived from the seed, so the demo that ran the game can sign for its players
(development chains only: anyone who knows the seed can derive the key).
Deterministic: every choice comes from the server's seeded generator.
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .motion import BUILD, DIG
from .tiles import COBBLE, GRAVEL, ICE, LAVA, SNOW, STONE, WATER, tile_name

FEATURES = (
    "step_length/4", "step_length_std/4", "turn_rate", "straightness", "spread", "north", "east", "south",
    "west", "dig_rate", "build_rate", "on_water", "on_rock", "on_lava", "health/20", "food/20",
)
PLAYER_DIM = len(FEATURES)  # 16: the player_dim of tileworld-v1
TRAIL = 32  # positions kept per bot for its vector
BEHAVIOURS = ("wanderer", "spinner", "teleporter")
_DIRS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])  # N, E, S, W as (drow, dcol)
_YAW = (180.0, -90.0, 0.0, 90.0)  # Minecraft yaw facing N (-z), E (+x), S (+z), W (-x)
_HEIGHT = {WATER: 62, ICE: 62, LAVA: 62, GRAVEL: 63, STONE: 72, SNOW: 80, COBBLE: 72}  # Pos y; default 64
_NAMES = ("Steve", "Alex", "Kai", "Noor", "Zuri", "Efe", "Sunny", "Ari", "Makena", "Jin")
_TURN_P = 0.25


@dataclass
class Bot:
    """One player. ``trail`` holds (row, col) positions, newest last; ``acts`` holds 0 idle, 1 dug, 2 built."""

    uuid: str
    name: str
    role: str  # digger | builder
    behaviour: str  # one of BEHAVIOURS
    pos: tuple[int, int]
    heading: int
    wallet: str | None = None
    health: float = 20.0
    food: int = 20
    actions: int = 0
    inventory: Counter = field(default_factory=Counter)
    trail: list[tuple[int, int]] = field(default_factory=list)
    acts: list[int] = field(default_factory=list)
    under: list[int] = field(default_factory=list)  # tile id under the bot after each tick

    def stats(self) -> dict:
        """Minecraft player-file fields: Pos [x, y, z], Rotation [yaw, pitch], Health, foodLevel, XpLevel, ..."""
        r, c = self.pos
        y = _HEIGHT.get(self.under[-1] if self.under else -1, 64)
        slots = []
        for item, count in sorted(self.inventory.items()):
            while count > 0 and len(slots) < 36:  # stacks of at most 64, 36 slots
                slots.append({"Slot": len(slots), "id": f"minecraft:{item}", "count": min(count, 64)})
                count -= 64
        return {
            "Pos": [c + 0.5, float(y), r + 0.5],
            "Rotation": [_YAW[self.heading], 60.0 if self.acts and self.acts[-1] else 0.0],
            "Health": round(self.health, 1),
            "foodLevel": int(self.food),
            "XpLevel": self.actions // 16,
            "Dimension": "minecraft:overworld",
            "Inventory": slots,
        }

    def record(self) -> dict:
        """The player object a state holds: uuid, name, stats and, when the bot has one, its wallet."""
        out = {"uuid": self.uuid, "name": self.name, "stats": self.stats()}
        return out | ({"wallet": self.wallet} if self.wallet else {})


def player_vector(bot: Bot) -> np.ndarray:
    """The bot's recent trajectory as ``PLAYER_DIM`` float32 features (see ``FEATURES``)."""
    trail = np.asarray(bot.trail[-TRAIL:], dtype=np.float64).reshape(-1, 2)  # (N, 2)
    out = np.zeros(PLAYER_DIM, dtype=np.float32)
    if len(trail) >= 2:
        steps = np.diff(trail, axis=0)  # (N-1, 2)
        length = np.abs(steps).sum(axis=1)  # Manhattan step lengths
        moving = steps[length > 0]
        direction = np.sign(moving)
        turns = np.any(direction[1:] != direction[:-1], axis=1).mean() if len(direction) > 1 else 0.0
        out[0], out[1], out[2] = length.mean() / 4, length.std() / 4, turns
        out[3] = np.abs(trail[-1] - trail[0]).sum() / max(length.sum(), 1e-9)
        out[4] = np.sqrt(((trail - trail.mean(axis=0)) ** 2).sum(axis=1).mean()) / 16
        if len(moving):
            drow, dcol = moving[:, 0], moving[:, 1]
            out[5:9] = [(drow < 0).mean(), (dcol > 0).mean(), (drow > 0).mean(), (dcol < 0).mean()]
    acts, under = np.asarray(bot.acts[-TRAIL:]), np.asarray(bot.under[-TRAIL:])
    if len(acts):
        out[9], out[10] = (acts == 1).mean(), (acts == 2).mean()
        out[11] = np.isin(under, (WATER, ICE)).mean()
        out[12] = np.isin(under, (STONE, SNOW, COBBLE)).mean()
        out[13] = (under == LAVA).mean()
    out[14], out[15] = bot.health / 20, bot.food / 20
    return out


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # keys lie in [1, n)


def wallet_key(seed: int, name: str) -> str:
    """The private key (0x and 64 hex digits) of the wallet ``name`` of a game seeded ``seed``: sha256 of both."""
    for attempt in range(256):  # a digest outside [1, n) has odds of about 2**-128; hash again if it happens
        digest = hashlib.sha256(f"tileworld-wallet/{int(seed)}/{name}/{attempt}".encode()).digest()
        if 0 < int.from_bytes(digest, "big") < _SECP256K1_N:
            return "0x" + digest.hex()
    raise AssertionError("unreachable: 256 sha256 digests outside the secp256k1 key range")


def wallet_address(key: str) -> str:
    """The checksummed Ethereum address of private key ``key``."""
    from eth_account import Account

    return Account.from_key(key).address


def make_bots(server: str, seed: int, count: int, strange: int, shape: tuple[int, int], rng) -> list[Bot]:
    """``count`` bots for ``server``; the last ``strange`` of them spin or teleport. Some carry a wallet."""
    h, w = shape
    bots = []
    for i in range(count):
        digest = hashlib.sha256(f"tileworld-bot/{server}/{seed}/{i}".encode()).digest()
        behaviour = "wanderer" if i < count - strange else BEHAVIOURS[1 + (i + seed) % 2]
        bot = Bot(
            uuid=str(uuidlib.UUID(bytes=digest[:16], version=4)),
            name=f"{_NAMES[(seed + i) % len(_NAMES)]}_{server[:8]}_{i}",
            role=("digger", "builder")[i % 2],
            behaviour=behaviour,
            pos=(int(rng.integers(h)), int(rng.integers(w))),
            heading=int(rng.integers(4)),
        )
        if (count - 1 - i) % 2 == 0:  # every other bot from the last: strange bots have wallets
            bot.wallet = wallet_address(wallet_key(seed, bot.name))
        bot.inventory.update({"oak_planks": 64, "cobblestone": 32} if bot.role == "builder" else {"bread": 8})
        bots.append(bot)
    return bots


class Server:
    """A simulated game server's world: the map and its bots. ``tick()`` advances one tick."""

    def __init__(self, name: str, tiles: np.ndarray, *, seed: int, players: int = 4, strange: int = 1) -> None:
        if players < 1 or not 0 <= strange <= players:
            raise ValueError(f"need players >= 1 and 0 <= strange <= players, got {players} and {strange}")
        self.name = name
        self.tiles = np.array(tiles, dtype=np.uint8, copy=True)  # (H, W)
        self.rng = np.random.default_rng([0x5E7, int(seed), *name.encode()])
        self.bots = make_bots(name, seed, players, strange, self.tiles.shape, self.rng)
        self.ticks = 0

    def tick(self) -> tuple[np.ndarray, list[str]]:
        """Move every bot and apply its action. Returns (a copy of the map (H, W), event texts)."""
        events = []
        for bot in self.bots:
            events += self._step(bot)
        self.ticks += 1
        return self.tiles.copy(), events

    def _step(self, bot: Bot) -> list[str]:
        h, w = self.tiles.shape
        rng, events = self.rng, []
        if bot.behaviour == "teleporter" and rng.random() < 0.7:
            bot.pos = (int(rng.integers(h)), int(rng.integers(w)))
        else:
            if bot.behaviour == "spinner":
                bot.heading = (bot.heading + 1) % 4
            elif rng.random() < _TURN_P:
                bot.heading = (bot.heading + int(rng.choice((-1, 1)))) % 4
            nxt = np.asarray(bot.pos) + _DIRS[bot.heading]
            if not (0 <= nxt[0] < h and 0 <= nxt[1] < w):  # bounce off the edge
                bot.heading = (bot.heading + 2) % 4
                nxt = np.asarray(bot.pos) + _DIRS[bot.heading]
            bot.pos = (int(nxt[0]), int(nxt[1]))
        r, c = bot.pos
        before = int(self.tiles[r, c])
        after = int((BUILD if bot.role == "builder" else DIG)[before])
        act = 0
        if after != before:
            self.tiles[r, c] = after
            bot.actions += 1
            act = 2 if bot.role == "builder" else 1
            if act == 1:
                bot.inventory[tile_name(before)] += 1
            else:
                placed = tile_name(after)
                bot.inventory[placed] -= 1
                if bot.inventory[placed] <= 0:
                    bot.inventory[placed] = 32  # crafted more from what it carries
                if before == WATER and rng.random() < 0.3:
                    events.append(f"{bot.name} builds a bridge over the water")
            if act == 1 and before == STONE and rng.random() < 0.3:
                events.append(f"{bot.name} digs into the stone hills")
            if bot.actions % 8 == 0:
                bot.food = max(0, bot.food - 1)
        if before == LAVA:
            bot.health = max(0.0, bot.health - 6.0)
            if bot.health <= 0:
                events.append(f"{bot.name} fell into lava and respawns")
                bot.health, bot.pos = 20.0, (int(rng.integers(h)), int(rng.integers(w)))
        elif bot.health < 20:
            bot.health = min(20.0, bot.health + 0.5)
        if bot.food < 6 and bot.inventory["bread"] > 0:
            bot.inventory["bread"] -= 1
            bot.food = 20
            events.append(f"{bot.name} eats bread")
        if bot.behaviour == "teleporter" and rng.random() < 0.1:
            events.append(f"{bot.name} flickers across the map")
        bot.inventory = Counter({k: v for k, v in bot.inventory.items() if v > 0})
        bot.trail = (bot.trail + [bot.pos])[-TRAIL:]
        bot.acts = (bot.acts + [act])[-TRAIL:]
        bot.under = (bot.under + [int(self.tiles[bot.pos])])[-TRAIL:]
        return events

    def vectors(self) -> np.ndarray:
        """Player vectors of every bot: float32 (P, PLAYER_DIM)."""
        return np.stack([player_vector(b) for b in self.bots])

    def records(self) -> list[dict]:
        """Player objects of every bot (uuid, name, stats, wallet?)."""
        return [b.record() for b in self.bots]

    def place(self, positions: dict[str, tuple[int, int]]) -> None:
        """Put bots (by uuid) back where a loaded state left them."""
        h, w = self.tiles.shape
        for bot in self.bots:
            if bot.uuid in positions:
                r, c = positions[bot.uuid]
                bot.pos = (min(max(int(r), 0), h - 1), min(max(int(c), 0), w - 1))
