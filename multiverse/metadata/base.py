"""The metadata port: spaces, worlds, snapshot records, heads and API keys.

One implementation (``SqlMetadata``) serves SQLite (default) and PostgreSQL; tests/metadata runs one suite
against both. Promises:
- every method is one transaction; a failure changes nothing;
- ``commit_snapshot`` is the only way a head moves, and it is a compare-and-swap;
- records come back exactly as they went in (tuples stay tuples, dicts round-trip through JSON).
Errors: ``NotFound``, ``AlreadyExists``, ``HeadMoved``, ``Unavailable`` from ``multiverse.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from multiverse.metadata.commitlog import IndexPointer
from multiverse.metadata.events import Commits
from multiverse.metadata.leases import Lease
from multiverse.records import ApiKeyRecord, SnapshotRecord, SpaceRecord, WorldRecord


class Metadata(Protocol):
    commits: Commits  # fired after each snapshot newly committed (a save or a spawned world), in commit order

    # spaces
    def put_space(self, space: SpaceRecord) -> SpaceRecord:
        """Register a space. The same record again returns the stored one; a different record under a taken
        name raises AlreadyExists."""
        ...

    def get_space(self, name: str) -> SpaceRecord: ...

    def list_spaces(self) -> list[SpaceRecord]: ...

    # worlds
    def create_world(self, world: WorldRecord) -> WorldRecord:
        """Same semantics as put_space: idempotent for an equal record (ignoring created_at), else AlreadyExists."""
        ...

    def get_world(self, name: str, *, deleted: bool = False) -> WorldRecord:
        """NotFound for a world an admin deleted, unless ``deleted`` (the domain following a kept record's world)."""
        ...

    def list_worlds(
        self,
        *,
        space: str | None = None,
        owner: str | None = None,
        after: str = "",
        limit: int = 100,
        reader: str | None = None,
    ) -> list[WorldRecord]:
        """Worlds ordered by name, starting after ``after`` (keyset paging); with ``reader``, only the worlds that
        principal may read (``auth.reader_name``: its own, shared with it, public; "" public only)."""
        ...

    def set_world_visibility(self, name: str, visibility: str, readers: Sequence[str] = ()) -> WorldRecord:
        """Set who may read world ``name``: its visibility, and its share list replaced by ``readers`` (for a
        "shared" world only; InvalidArgument otherwise). Returns the world as stored."""
        ...

    def readable_worlds(self, reader: str | None) -> frozenset[str]:
        """The names of every world ``reader`` may read (None: an admin, every world)."""
        ...

    # snapshots and heads
    def commit_snapshot(
        self,
        record: SnapshotRecord,
        *,
        head: str,
        expected: str | None,
        idempotency_key: str = "",
        principal: str = "",
        vectors: Sequence[tuple[str, str, int]] | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> tuple[SnapshotRecord, bool]:
        """In one transaction: if (principal, world, idempotency_key) was seen, return (that snapshot, False) and
        change nothing. ``also(conn)``: more writes of the same transaction (a chunked state's pack, chunk rows and
        manifest: multiverse/chunks/store.py), made unless the key replays. Otherwise the head
        ``record.world@head`` must currently be ``expected`` (None: no head yet) or HeadMoved(current) is raised; then insert the record (if its id is new), move the head to it,
        record ``vectors`` ((sha256, kind, index) of each distinct vector the state holds,
        ``multiverse.state.vectors.state_vectors``) as discovered by it where no earlier commit holds them (None: queue the
        snapshot to be hashed later), remember the idempotency key, and return (record, True)."""
        ...

    def get_snapshot(self, snapshot_id: str, *, reader: str | None = None) -> SnapshotRecord:
        """By full id, or by a unique prefix of at least 8 hex characters; with ``reader``, only among the
        snapshots of worlds that principal may read (NotFound for the others, as for no snapshot at all)."""
        ...

    def get_head(self, world: str, head: str) -> str | None: ...

    def heads(self, world: str) -> dict[str, str]: ...

    def log(self, start: str, *, limit: int = 100, cursor: str = "") -> tuple[list[SnapshotRecord], str]:
        """Ancestors of snapshot ``start`` (inclusive) across worlds, newest generation first (ties by id),
        each once. Returns (page, next_cursor); next_cursor is "" on the last page and is opaque to callers."""
        ...

    def snapshots_with_state(self, state: str) -> list[SnapshotRecord]: ...

    # api keys
    def add_key(self, key: ApiKeyRecord) -> None: ...

    def get_key(self, key_id: str) -> ApiKeyRecord: ...

    def count_keys(self, role: str) -> int: ...

    def rarity_manifests(self) -> dict[str, str]:
        """{space: manifest digest of its persisted rarity index}."""
        ...

    def point_rarity_index(self, space: str, manifest: str, now: float, *, seq: int | None = None,
                           lease: Lease | None = None) -> str | None:
        """Point ``space``'s rarity index at ``manifest`` (covering commits up to ``seq``); returns what it pointed
        at before. With ``lease``: only while that lease is still the writer's, else LeaseLost
        (``multiverse.metadata.commitlog``)."""
        ...

    def rarity_pointers(self) -> dict[str, IndexPointer]:
        """{space: its persisted rarity index's manifest and the commit seq it covers}."""
        ...

    # the commit order (multiverse/metadata/commitlog.py)
    def commits_after(self, seq: int, limit: int = 1000, space: str | None = None) -> list[SnapshotRecord]:
        """Snapshots committed after ``seq`` (of worlds of ``space``, or any), in commit order, each with .seq."""
        ...

    def count_after(self, seq: int, space: str) -> int:
        """How many snapshots of worlds of ``space`` committed after ``seq``."""
        ...

    def last_seq(self) -> int: ...

    def close(self) -> None: ...
