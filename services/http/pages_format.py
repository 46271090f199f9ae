"""How the gallery's templates show numbers, ids, prices and times: the Jinja2 environment and its filters.

Autoescaping is on for every template, so a world name, a listing or a parameter from the store is text, never
markup. The filters take the read model's JSON values (numbers may be missing or null: they show as "-")."""

from __future__ import annotations

import json
import math
import re
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader

WEI_PER_ETHER = Decimal(10) ** 18
DASH = "-"


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def num(value: Any) -> str:
    """A score or distance with 4 significant digits."""
    x = _float(value)
    return DASH if x is None else f"{x:.4g}"


def pct(value: Any) -> str:
    x = _float(value)
    return DASH if x is None else f"{x:.2f}%"


def top_share(percentile: Any) -> str:
    """A percentile as the share of the population at least this rare: 99.95 -> "0.05%"."""
    x = _float(percentile)
    if x is None:
        return DASH
    share = max(100.0 - x, 0.0)
    if share < 0.01:
        return "<0.01%"
    return f"{share:.0f}%" if share >= 10 else f"{share:.1f}%" if share >= 1 else f"{share:.2f}%"


def thousands(value: Any) -> str:
    x = _float(value)
    return DASH if x is None else f"{int(x):,}"


def short(value: Any, keep: int = 12) -> str:
    """A long hex id cut to ``keep`` characters (the full id stays in a title or link)."""
    text = "" if value is None else str(value)
    return text if len(text) <= keep + 1 else text[:keep] + "…"


def hexid(value: Any) -> str:
    """A token id as 64 hex digits without 0x, from "0x..." or a decimal string of the uint256."""
    text = "" if value is None else str(value).strip().lower()
    if text.startswith("0x"):
        return text[2:]
    if text.isdigit() and len(text) != 64:
        return f"{int(text):064x}"
    return text


def ether(wei: Any) -> str:
    """A price in wei (int or decimal string) as ether, exactly: "1500000000000000000" -> "1.5"."""
    try:
        amount = Decimal(str(wei)) / WEI_PER_ETHER
    except (InvalidOperation, ValueError):
        return DASH
    text = format(amount.normalize(), "f") if amount else "0"
    return text


def when(value: Any) -> str:
    x = _float(value)
    return DASH if x is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(x)) + "Z"


def compact(value: Any, limit: int = 160) -> str:
    """Operator parameters as one line of JSON, clipped."""
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def tojson_attr(value: Any) -> str:
    """A value as JSON for a data- attribute (autoescaping then escapes its quotes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def tier_class(value: Any) -> str:
    """A tier or status as a safe CSS class suffix."""
    text = re.sub(r"[^a-z0-9-]", "", str(value or "").lower())
    return text or "other"


def world_name(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("world") or "")
    return str(value)


def event_text(event: Any) -> str:
    """One line of a token's history (an indexed chain event {name, block_number, args}): what happened, between
    whom, for how much, where."""
    if not isinstance(event, dict):
        return str(event)
    args = event.get("args") if isinstance(event.get("args"), dict) else {}
    fields = {**args, **{k: v for k, v in event.items() if k != "args"}}
    parts = [str(fields.get("name") or fields.get("kind") or "event")]
    sender = fields.get("from") or fields.get("seller")
    receiver = fields.get("to") or fields.get("buyer")
    if parts[0] == "Transfer" and sender and not str(sender).lower().removeprefix("0x").strip("0"):
        parts, sender = ["Minted"], None  # a transfer from the zero address
    if sender:
        parts.append(f"from {short(sender)}")
    if receiver:
        parts.append(f"to {short(receiver)}")
    price = fields.get("price") or fields.get("price_wei")
    if price not in (None, "", "0", 0):
        parts.append(f"for {ether(price)} ETH")
    if fields.get("block_number") is not None:
        parts.append(f"in block {fields.get('block_number')}")
    return " ".join(parts)


FILTERS = {f.__name__: f for f in (num, pct, top_share, thousands, short, hexid, ether, when, compact, tojson_attr,
                                    tier_class, world_name, event_text)}


def environment(folder: Path) -> Environment:
    """The pages' Jinja2 environment: templates from ``folder``, autoescaped, missing fields render empty."""
    env = Environment(loader=FileSystemLoader(folder), autoescape=True, undefined=ChainableUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    return env
