"""Players and guidance texts inside a state: their JSON schema and its validation. Pure.

A player is ``{"uuid": str, "name": str, "stats": {...}, "wallet": "0x..."?}`` with stats in Minecraft's
player-file field names (``Health``, ``Pos``, ``Rotation``, ``foodLevel``, ``XpLevel``, ``Dimension``,
``Inventory``). Unknown stats fields are kept as they are, within the size cap. A guidance text is
``{"frame": int, "text": str}`` keyed to a frame index of the same state.
"""

from __future__ import annotations

import json
import math
import re
import uuid as uuidlib
from typing import Any

from multiverse.errors import InvalidArgument
from multiverse.state.limits import Limits

WALLET_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _number(field: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    # compared as they are: math.isfinite on an int past float range raises OverflowError
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if isinstance(value, bool) or not isinstance(value, kind) or not finite or not lo <= value <= hi:
        what = "an integer" if integer else "a finite number"
        raise InvalidArgument(field, value, f"use {what} from {lo:g} to {hi:g}")


def _vector(field: str, value: Any, n: int) -> None:
    if not isinstance(value, list) or len(value) != n:
        raise InvalidArgument(field, value, f"use a list of {n} finite numbers")
    for i, v in enumerate(value):
        _number(f"{field}[{i}]", v, -3e7, 3e7)


def _stats(prefix: str, stats: Any) -> None:
    if not isinstance(stats, dict):
        raise InvalidArgument(prefix, stats, "use a JSON object of Minecraft player fields (Health, Pos, ...)")
    checks = {
        "Health": lambda f, v: _number(f, v, 0, 1024),
        "foodLevel": lambda f, v: _number(f, v, 0, 20, integer=True),
        "XpLevel": lambda f, v: _number(f, v, 0, 2**31 - 1, integer=True),
        "Pos": lambda f, v: _vector(f, v, 3),
        "Rotation": lambda f, v: _vector(f, v, 2),
    }
    for key, check in checks.items():
        if key in stats:
            check(f"{prefix}.{key}", stats[key])
    if "Dimension" in stats and (not isinstance(stats["Dimension"], str) or len(stats["Dimension"]) > 64):
        raise InvalidArgument(f"{prefix}.Dimension", stats["Dimension"], "use a name such as minecraft:overworld")
    if "Inventory" in stats:
        inventory = stats["Inventory"]
        if not isinstance(inventory, list) or len(inventory) > 256:
            raise InvalidArgument(f"{prefix}.Inventory", inventory, "use a list of at most 256 {Slot, id, count}")
        for i, item in enumerate(inventory):
            field = f"{prefix}.Inventory[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise InvalidArgument(field, item, 'use {"Slot": 0, "id": "minecraft:dirt", "count": 1}')
            _number(f"{field}.Slot", item.get("Slot"), -128, 255, integer=True)
            _number(f"{field}.count", item.get("count"), 1, 127, integer=True)


def validate_players(players: Any, *, max_players: int, limits: Limits) -> list[dict[str, Any]]:
    """Return the players list if valid; raise InvalidArgument naming the first bad field otherwise."""
    if not isinstance(players, list):
        raise InvalidArgument("players", players, "use a JSON list of player objects")
    if len(players) > max_players:
        raise InvalidArgument("players", f"{len(players)} players", f"a state may hold at most {max_players}")
    seen: set[str] = set()
    for i, player in enumerate(players):
        field = f"players[{i}]"
        if not isinstance(player, dict):
            raise InvalidArgument(field, player, "use an object with uuid, name and stats")
        size = len(json.dumps(player, separators=(",", ":")))
        if size > limits.max_player_json_bytes:
            raise InvalidArgument(field, f"{size} bytes", f"one player's record may be at most {limits.max_player_json_bytes} bytes")
        raw = player.get("uuid")
        try:
            canonical = str(uuidlib.UUID(raw)) if isinstance(raw, str) else None
        except ValueError:
            canonical = None
        if canonical is None or canonical != raw:
            raise InvalidArgument(f"{field}.uuid", raw, "use a lower-case UUID string such as 069a79f4-44e9-4726-a5be-fca90e38aaf5")
        if raw in seen:
            raise InvalidArgument(f"{field}.uuid", raw, "each player may appear once per state")
        seen.add(raw)
        name = player.get("name", "")
        if not isinstance(name, str) or len(name) > 64:
            raise InvalidArgument(f"{field}.name", name, "use a string of at most 64 characters")
        wallet = player.get("wallet")
        if wallet is not None and (not isinstance(wallet, str) or not WALLET_RE.match(wallet)):
            raise InvalidArgument(f"{field}.wallet", wallet, "use an Ethereum address: 0x and 40 hex digits")
        _stats(f"{field}.stats", player.get("stats", {}))
    return players


def validate_timeline(timeline: Any, *, frame_count: int, limits: Limits) -> list[dict[str, Any]]:
    """Return the timeline if valid: entries {frame, text}, frame in [0, frame_count), in frame order."""
    if not isinstance(timeline, list):
        raise InvalidArgument("timeline", timeline, 'use a JSON list of {"frame": i, "text": "..."}')
    if len(timeline) > limits.max_timeline:
        raise InvalidArgument("timeline", f"{len(timeline)} entries", f"use at most {limits.max_timeline}")
    last = -1
    for i, entry in enumerate(timeline):
        field = f"timeline[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"frame", "text"}:
            raise InvalidArgument(field, entry, 'use {"frame": i, "text": "..."} and no other keys')
        frame, text = entry.get("frame"), entry.get("text")
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frame_count:
            raise InvalidArgument(f"{field}.frame", frame, f"use a frame index from 0 to {frame_count - 1}")
        if frame < last:
            raise InvalidArgument(f"{field}.frame", frame, f"keep entries in frame order (the previous one is at {last})")
        last = frame
        if not isinstance(text, str) or not text or len(text) > limits.max_text_chars:
            raise InvalidArgument(f"{field}.text", text, f"use a non-empty text of at most {limits.max_text_chars} characters")
    return timeline
