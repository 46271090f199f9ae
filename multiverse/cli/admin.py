"""Housekeeping commands of the `multiverse` CLI (an admin key): collect garbage, delete a world, prune snapshots.

    multiverse gc --dry-run                   # what a collection would sweep: counts and bytes per kind
    multiverse gc --grace 2h                  # sweep what nothing keeps and is older than two hours
    multiverse world delete NAME              # hide a world for good; its snapshots are pruned but what must stay
    multiverse snapshot prune --before 2025-01-31 [--world W] [--dry-run]
    multiverse snapshot prune --before 30d    # older than 30 days

Records are never deleted: heads, tokens' snapshots and the inputs of kept crosses stay loadable, and bytes go
only when `gc` sweeps them after its grace window (proto/multiverse/v1/admin.proto).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from multiverse.errors import InvalidArgument

KINDS = ("chunks", "packs", "manifests", "whole")  # CollectGarbageResponse's fields, as the collector names them
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
AGE_FIX = "an age as a number and a unit s, m, h or d (90m, 12h, 7d; a bare number is seconds)"


def add_admin_commands(sub: Any, client: Callable[[argparse.Namespace], Any]) -> None:
    """Register `gc`, `world delete` and `snapshot prune` on ``sub`` (the CLI's subparsers, where `world` and
    `snapshot` are registered already); ``client(args)`` makes a Client."""
    gc = sub.add_parser("gc", help="collect the storage that nothing keeps, older than the grace window (admin)")
    gc.add_argument("--dry-run", action="store_true", help="show what would go (counts and bytes per kind), "
                    "change nothing")
    gc.add_argument("--grace", default=None, metavar="AGE", help="sweep only what is older than this "
                    "(90m, 1h, 2d; default: the server's, 1h)")
    gc.set_defaults(run=lambda a: print(collection_text(client(a).collect_garbage(
        None if a.grace is None else duration("--grace", a.grace), dry_run=a.dry_run))))

    delete = _actions(sub, "world").add_parser("delete", help="delete a world for good: its heads go and its "
                                               "snapshots are pruned, but tokens' and kept crosses' inputs (admin)")
    delete.add_argument("name")
    delete.set_defaults(run=lambda a: print(pruned_text(client(a).delete_world(a.name), f"world {a.name}")))

    prune = _actions(sub, "snapshot").add_parser("prune", help="prune snapshots created before a date: their "
                                                 "records stay, their states go at the next gc (admin)")
    prune.add_argument("--before", required=True, metavar="DATE", help="an ISO date or time (2025-01-31, "
                       "2025-01-31T12:00:00+02:00; UTC if no offset), or an age (30d, 12h)")
    prune.add_argument("--world", default="", help="only this world's snapshots (default: every world's)")
    prune.add_argument("--dry-run", action="store_true", help="count what would be pruned, change nothing")
    prune.set_defaults(run=lambda a: print(pruned_text(client(a).prune_snapshots(
        before(a.before), world=a.world, dry_run=a.dry_run), f"snapshots before {a.before}")))


def _actions(sub: Any, command: str) -> Any:
    """The subparsers of ``command`` (argparse has no public way to reach them)."""
    for action in sub.choices[command]._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(f"`{command}` takes no actions")  # a wiring mistake in cli/main.py


def duration(flag: str, text: str) -> float:
    """Seconds in ``text`` (``90m``, ``1h``, ``2d``, ``30``); InvalidArgument naming ``flag`` otherwise."""
    found = _DURATION.match(text)
    if not found:
        raise InvalidArgument(flag, text, f"give {AGE_FIX}")
    return float(found.group(1)) * UNITS[found.group(2) or "s"]


def before(text: str, now: float | None = None) -> float:
    """Seconds since the epoch for ``--before``: an ISO date or time (naive: UTC), or an age before ``now``."""
    if _DURATION.match(text) and text.strip()[-1] in UNITS:  # a bare number is no date: refused below
        return (time.time() if now is None else now) - duration("--before", text)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument("--before", text, "give an ISO date or time (2025-01-31, 2025-01-31T12:00:00Z; UTC "
                              f"if no offset) or {AGE_FIX}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def size(n: int) -> str:
    """``n`` bytes, readable: 512 B, 48.0 KiB, 3.2 GiB."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"


def collection_text(r: Any) -> str:
    """A CollectGarbageResponse as lines: what went (or would go) per kind, the total, what was kept."""
    verb = "would sweep" if r.dry_run else "swept"
    lines = [f"{'dry run: ' if r.dry_run else ''}{verb} what nothing keeps, older than {r.grace_s:g} s"
             f"{' (nothing was removed)' if r.dry_run else ''}", f"  {'kind':<10} {'count':>8} {'bytes':>14}"]
    count = total = 0
    for kind in KINDS:
        t = getattr(r, kind)
        count, total = count + t.count, total + t.bytes
        lines.append(f"  {kind:<10} {t.count:>8} {t.bytes:>14}  {size(t.bytes)}")
    lines.append(f"  {'total':<10} {count:>8} {total:>14}  {size(total)}")
    lines.append(f"kept: {r.kept_snapshots} snapshots, {r.kept_states} states, {r.live_chunks} live chunks"
                 + (f"; {r.held_packs} packs hold {size(r.held_bytes)} of dead chunks until all of theirs are dead"
                    if r.held_packs else "") + f" ({r.seconds:.2f} s)")
    return "\n".join(lines)


def pruned_text(r: Any, what: str) -> str:
    """A PruneResult as one line."""
    head = "dry run: would prune" if r.dry_run else "pruned"
    dropped = f", {r.heads} heads dropped" if r.heads else ""
    return (f"{what}: {head} {r.pruned} snapshots, kept {r.kept} (heads, tokens' snapshots, inputs of kept "
            f"crosses){dropped}")
