"""Merging players' stats when worlds cross: a three-way merge against the merge base, field by field. Pure.

For each top-level stats field (and the wallet): equal on both sides -> that value; changed on one side only
(the other still equals the base) -> the changed side; changed on both -> the named policy:

    prefer-first   the first parent's value
    prefer-second  the second parent's value
    max            the larger number (Health, XpLevel, foodLevel...); non-numbers fall back to prefer-first
    union          Inventory: the union by Slot (first parent wins a slot both fill); other fields: prefer-first

Values compare as JSON values (``true`` is not ``1``; ``20`` is ``20.0``). With no base record of the player
every difference is a conflict. More than two parents fold left to right (the merged first ones against the
next), so with prefer-second the latest parent holding the player wins a conflict.
"""

from __future__ import annotations

import copy
from typing import Any

POLICIES = ("prefer-first", "prefer-second", "max", "union")
_MISSING = object()


def merge_values(key: str, a: Any, b: Any, base: Any, policy: str) -> Any:
    """One field's three-way merge; ``_MISSING`` stands for an absent field on any side."""
    if _same(a, b):
        return a
    if base is not _MISSING and _same(a, base):
        return b
    if base is not _MISSING and _same(b, base):
        return a
    if a is _MISSING or b is _MISSING:  # added on one side, deleted or absent on the other: keep what exists
        return b if a is _MISSING else a
    if policy == "prefer-second":
        return b
    if policy == "max" and _number(a) and _number(b):
        return max(a, b)
    if policy == "union" and key == "Inventory" and isinstance(a, list) and isinstance(b, list):
        return _union_inventory(a, b)
    return a


def merge_stats(a: dict[str, Any], b: dict[str, Any], base: dict[str, Any] | None, policy: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in list(a) + [k for k in b if k not in a]:
        value = merge_values(key, a.get(key, _MISSING), b.get(key, _MISSING),
                             _MISSING if base is None else base.get(key, _MISSING), policy)
        if value is not _MISSING:
            out[key] = copy.deepcopy(value)
    return out


def merge_player(records: list[dict[str, Any]], base: dict[str, Any] | None, policy: str) -> dict[str, Any]:
    """One player's record from each parent that has it (in parent order) -> the child's record."""
    merged = copy.deepcopy(records[0])
    for other in records[1:]:
        merged["stats"] = merge_stats(merged.get("stats", {}), other.get("stats", {}),
                                      None if base is None else base.get("stats", {}), policy)
        for key in ("name", "wallet"):
            value = merge_values(key, merged.get(key, _MISSING), other.get(key, _MISSING),
                                 _MISSING if base is None else base.get(key, _MISSING), policy)
            if value is _MISSING:
                merged.pop(key, None)
            else:
                merged[key] = value
    return merged


def union_players(parents: list[list[dict[str, Any]]]) -> list[tuple[str, list[int]]]:
    """Every uuid once, in order of first appearance, with the parent indices that hold it."""
    order: dict[str, list[int]] = {}
    for k, players in enumerate(parents):
        for p in players:
            order.setdefault(p["uuid"], []).append(k)
    return list(order.items())


def _union_inventory(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    slots = {item.get("Slot"): item for item in b}
    slots.update({item.get("Slot"): item for item in a})
    return [slots[s] for s in sorted(slots, key=lambda s: (s is None, s))]


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: true is not 1 (Python says it is), 20 is 20.0."""
    return _norm(a) == _norm(b)


def _norm(x: Any) -> Any:
    if x is _MISSING:
        return ("missing",)
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, dict):
        return ("dict", tuple(sorted((k, _norm(v)) for k, v in x.items())))
    if isinstance(x, list):
        return ("list", tuple(_norm(v) for v in x))
    return x


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
