"""What storage must keep: the snapshots whose states stay loadable, whatever is pruned or deleted.

A snapshot's state is kept when the snapshot is

- not pruned (``snapshots.pruned_at`` is null): pruning and deleting a world mark the others;
- a head of a world (a deleted world has none left);
- named by a token (``market_tokens.snapshot``): a token's vector stays downloadable forever;
- named as a parent or merge base by the provenance of a kept crossed snapshot, transitively: a cross can be
  explained and re-run from its inputs' states.

Records are never deleted: log, lineage and merge bases walk pruned snapshots as before; only states go.
``protected`` is what a prune must not mark; ``kept`` is what a collection marks live. Both are read inside the
caller's transaction, so they agree with the rows it changes.

The token table is read by name (``TOKENS``), not imported: the market depends on the store's packages, and the
chunks must not depend on the market (tests/gc checks the name and column against multiverse.market.tables).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from multiverse.metadata.models import heads, snapshots

BATCH = 500  # ids per IN (...) (SQLite's bound parameters)
TOKENS = sa.table("market_tokens", sa.column("snapshot"))
_CROSS = '%"kind":"cross"%'  # provenance is canonical JSON (sorted keys, no spaces): a prefilter, checked after


def heads_and_tokens(conn: Connection) -> set[str]:
    """Every head's snapshot and every token's snapshot."""
    found = set(conn.execute(sa.select(heads.c.snapshot)).scalars())
    found.update(conn.execute(sa.select(TOKENS.c.snapshot)).scalars())
    return found


def unpruned(conn: Connection) -> set[str]:
    return set(conn.execute(sa.select(snapshots.c.id).where(snapshots.c.pruned_at.is_(None))).scalars())


def crosses(conn: Connection) -> dict[str, set[str]]:
    """{crossed snapshot: the parents and merge base its provenance names} (crosses are few beside saves)."""
    found: dict[str, set[str]] = {}
    for sid, text in conn.execute(sa.select(snapshots.c.id, snapshots.c.provenance)
                                  .where(snapshots.c.provenance.like(_CROSS))):
        provenance = json.loads(text)
        if provenance.get("kind") != "cross":
            continue  # the text matched inside a label, not at the top
        inputs = {p for p in provenance.get("parents") or () if isinstance(p, str)}
        if isinstance(provenance.get("base"), str):
            inputs.add(provenance["base"])
        found[sid] = inputs
    return found


def closure(conn: Connection, start: set[str]) -> set[str]:
    """``start`` and, transitively, the inputs of every crossed snapshot in it."""
    inputs = crosses(conn)
    kept, todo = set(start), [s for s in start if s in inputs]
    while todo:
        for parent in inputs[todo.pop()] - kept:
            kept.add(parent)
            if parent in inputs:
                todo.append(parent)
    return kept


def kept(conn: Connection) -> set[str]:
    """Every snapshot whose state a collection must keep (see the module docstring)."""
    return closure(conn, unpruned(conn) | heads_and_tokens(conn))


def protected(conn: Connection, leaving: set[str]) -> set[str]:
    """Those of ``leaving`` (snapshots about to be pruned) that must stay: heads, tokens' snapshots, and inputs of
    the crosses that stay kept once ``leaving`` goes."""
    return closure(conn, (unpruned(conn) - leaving) | heads_and_tokens(conn)) & leaving


def states_of(conn: Connection, ids: Iterable[str]) -> set[str]:
    """The states the snapshots ``ids`` name."""
    ids, found = list(ids), set()
    for i in range(0, len(ids), BATCH):
        found.update(conn.execute(sa.select(snapshots.c.state).where(snapshots.c.id.in_(ids[i : i + BATCH]))).scalars())
    return found
