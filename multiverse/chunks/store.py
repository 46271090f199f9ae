"""Where chunks live: in packs, located through the metadata, read back checked against their addresses.

A save's new chunks go into one pack, back to back. A small pack (a sliding window's few new frames: up to
INLINE_MAX) is *inline*: its bytes are a row of ``chunk_packs``, written in the save's own commit, so a save costs one
durable write (the metadata's) instead of a blob's fsyncs plus the metadata's; ``flush.Flusher`` later gathers
inline packs into pack blobs. A big pack (a first save, a mask cross's new frames) is a blob: 16 random bytes and
the chunks, under the SHA-256 of those, so that it is its put's alone (a failed save deletes its own; no other save
ever counts on it), named in a journal of the process's own until its row commits in the save's transaction (a
crash in between: ``recover`` deletes it at the next start). The ``chunks`` table says where each chunk is (pack,
offset, length) and what its values were checked as; ``chunked_states`` holds each state's manifest
(multiverse/chunks/cut.py), whose SHA-256 is the state's id.

``stage`` gets a state ready (puts a big pack's blob; checks every chunk it counts on is stored) and returns a
``Staged`` whose ``write(conn)`` records the pack's row (inline: with its bytes), the chunk rows and the manifest in
the caller's transaction, one write transaction per save: the save's commit (inside ``recording``), so the state and
the snapshot naming it appear together or not at all.
``touched_at`` on a chunk row is the last time a save counted on it (an offer that found it present, a manifest
that names it): the collector never removes a chunk touched within its grace window, which is what makes a save
safe against a collection running beside it (multiverse/chunks/gc.py, fence.py).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import itertools
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from multiverse.chunks import fence
from multiverse.chunks.cut import Manifest, address, is_manifest
from multiverse.chunks.keys import among, bound
from multiverse.chunks.known import Checks
from multiverse.errors import Corrupt, FailedPrecondition, InvalidArgument, NotFound
from multiverse.metadata.models import chunk_packs, chunked_states, chunks

BATCH = 500  # rows per INSERT (SQLite's bound parameters)
KEYS_PER_QUERY = 1 << 16  # addresses per lookup (one parameter: multiverse/chunks/keys.py)
SALT = 16  # random bytes opening every pack blob: each is its put's own
INLINE_MAX = 256 << 10  # a save's new chunks up to this go inline, in its own transaction (one durable write)
MANIFESTS_CACHED = 4096
# A touch refreshes a chunk's touched_at only when it is older than this: the collector's grace window (hours)
# must exceed it plus the longest save, so that a chunk a save counts on is never swept under it.
TOUCH_SLACK_S = 60.0
_ADD_PACK = chunk_packs.insert()  # built once: see multiverse/metadata/_prepared.py


def _statements(dialect: str) -> tuple[Any, Any]:
    """(locate, touch) for ``dialect``, the address list bound as one parameter (multiverse/chunks/keys.py)."""
    where = among(chunks.c.address, dialect, "part")
    # run by the driver: SQLAlchemy's result processing of a save's ~500 rows cost more than the query
    locate = ("SELECT address, pack, pack_offset, length, checked FROM chunks WHERE "
              + ("address = ANY(%s)" if dialect == "postgresql" else "address IN (SELECT value FROM json_each(?))"))
    touch = chunks.update().where(where, chunks.c.touched_at < sa.bindparam("before")).values(
        touched_at=sa.bindparam("now"))
    return locate, touch


@dataclass(frozen=True)
class Location:
    pack: str
    offset: int
    length: int
    checked: str  # the dtype its values were checked as ("" for raw bytes: header)


@dataclass(frozen=True)
class Staged:
    """A state ready to be recorded: ``write(conn)`` in the committing transaction (``ChunkStore.stage``)."""

    state: str
    manifest: Manifest
    new_bytes: int  # chunk bytes stored anew
    write: Callable[[Any], None]
    blob: str = ""  # the pack blob put for it ("" for none: inline or nothing new)


@dataclass(frozen=True)
class Piece:
    """A chunk to store: its bytes and the dtype they were checked as ("" for raw bytes)."""

    data: bytes | memoryview
    checked: str = ""


class ChunkStore:
    def __init__(self, meta: Any, blobs: Any, clock: Callable[[], float] = time.time, *,
                 journal: Path | None = None) -> None:
        """``journal``: a directory of this process's own (in its data directory) naming the pack blobs put whose
        rows have not committed yet (``recover``); None: none kept (a crash may leave an unrecorded pack blob)."""
        self.meta, self.blobs, self.clock = meta, blobs, clock
        self.journal = journal
        if journal is not None:
            journal.mkdir(parents=True, exist_ok=True)
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._lock = threading.Lock()
        self._sql: dict[str, tuple[Any, Any]] = {}
        self.checks = Checks()  # the check each chunk's bytes passed, as this process saw (known.py)

    # -- what is there -------------------------------------------------------------------------------------
    def locate(self, addresses: Sequence[str], *, touch: bool = False) -> dict[str, Location]:
        """Where each stored one of ``addresses`` lives; with ``touch`` their grace window restarts now (rows
        touched within the last TOUCH_SLACK_S seconds are left as they are: a save's hundreds of unchanged chunks
        cost no write, and the collector's grace window is far longer than that slack)."""
        found: dict[str, Location] = {}
        unique = list(dict.fromkeys(addresses))
        now = self.clock()
        with self.meta.transaction(write=touch) as conn:
            dialect = conn.dialect.name
            if dialect not in self._sql:
                self._sql[dialect] = _statements(dialect)
            locate, touch_ = self._sql[dialect]
            for i in range(0, len(unique), KEYS_PER_QUERY):
                part = bound(unique[i : i + KEYS_PER_QUERY], dialect)
                if touch:
                    conn.execute(touch_, {"part": part, "now": now, "before": now - TOUCH_SLACK_S})
                for a, pack, offset, length, checked in conn.exec_driver_sql(locate, (part,)):
                    found[a] = Location(pack, offset, length, checked)
        self.checks.put_all((a, loc.checked) for a, loc in found.items())
        return found

    def missing(self, addresses: Sequence[str]) -> list[int]:
        """The positions in ``addresses`` of the chunks not stored; the stored ones are touched (kept through the
        grace window, long enough for the save that asked to send what is missing and commit)."""
        have = self.locate(addresses, touch=True)
        return [i for i, a in enumerate(addresses) if a not in have]

    # -- writing -------------------------------------------------------------------------------------------
    def put_state(self, data: bytes | memoryview, pieces: Sequence[memoryview], manifest: Manifest,
                  checked: Sequence[str], *, verified: bool = False) -> str:
        """A whole state file already cut (``cut.cut``), its chunks checked as ``checked[i]``: store what is new,
        then the manifest; returns the state's id. ``verified``: the pieces were hashed to their addresses by the
        caller (``cut.cut`` did), so they are not hashed again."""
        return self.put(manifest, _wanted(manifest, pieces, checked), verified=verified)

    def put(self, manifest: Manifest, new: dict[str, Piece], *, verified: bool = False,
            located: Mapping[str, str] | None = None) -> str:
        """``stage`` and record in one transaction of its own; returns the state's id."""
        staged = self.stage(manifest, new, verified=verified, located=located)
        with self.recording(staged) as write, self.meta.transaction(write=True) as conn:
            write(conn)
        return staged.state

    def stage(self, manifest: Manifest, new: dict[str, Piece], *, verified: bool = False,
              located: Mapping[str, str] | None = None, inherited: AbstractSet[str] = frozenset()) -> Staged:
        """Get ``manifest``'s state ready to record: the chunks ``new`` ({address: Piece}) not stored yet, then the
        manifest, whose every other chunk must be stored (FailedPrecondition naming the first that is not).
        ``located``: {address: check} of the stored ones of ``manifest.addresses`` as the caller just found them (not
        asked again); ``write`` touches and re-counts the stored chunks in the committing transaction whatever the
        caller did, but for those ``inherited`` from the state that the committing transaction's compare-and-swap
        moves the head from, which the collector holds (multiverse/chunks/fence.py).

        The new chunks go inline (one pack row holding their bytes) when they are at most INLINE_MAX bytes, else
        into a pack blob put now (``put_pack``: unique to this save, journalled until its row commits).
        ``Staged.write(conn)`` records the rest in the caller's transaction (a save's commit: one write transaction
        for pack row, chunks, manifest and record), inside ``recording``. Until it commits nothing of the state is
        visible."""
        if not verified:
            _verify(new)
        have = self.locate(manifest.addresses, touch=True) if located is None else located
        lost = next((i for i, a in enumerate(manifest.addresses) if a not in have and a not in new), None)
        if lost is not None:
            raise FailedPrecondition(
                f"chunks[{lost}] ({manifest.addresses[lost]}) of the state is not stored (never sent, or collected "
                "since it was offered): ask which chunks are missing again and send them", field=f"chunks[{lost}]")
        fresh = [(a, p) for a, p in new.items() if a not in have]
        rows, at = _rows(fresh)
        self.checks.put_all((r["address"], r["checked"]) for r in rows)  # what its bytes passed, stored or not
        inline = b""
        blob = at > INLINE_MAX
        if blob:
            pack, rows = self.put_pack(fresh, rows, at)
        elif fresh:
            pack, inline = uuid.uuid4().hex, b"".join(bytes(p.data) if isinstance(p.data, memoryview) else p.data
                                                      for _, p in fresh)
        else:
            pack = ""
        encoded = manifest.encode()
        state = hashlib.sha256(encoded).hexdigest()
        present = [a for a in manifest.addresses if a in have and a not in inherited]

        def write(conn: Any) -> None:
            now = self.clock()
            if inline:
                conn.execute(_ADD_PACK, dict(digest=pack, size=at, created_at=now, data=inline))
            elif blob:
                conn.execute(_ADD_PACK, dict(digest=pack, size=at + SALT, created_at=now, data=None))
            fence.hold(conn, present, now, TOUCH_SLACK_S)
            self._insert_rows(conn, rows, pack, now)
            # recorded, or its grace window restarted; Unavailable while a collection removes it (fence.py)
            fence.record_state(conn, self.meta.insert, state, manifest.size, len(manifest.addresses), encoded, now)

        return Staged(state, manifest, at, write, pack if blob else "")

    @contextlib.contextmanager
    def recording(self, staged: Staged) -> Iterator[Callable[[Any], None]]:
        """Around the transaction that records ``staged``, whose ``write`` it yields: once that committed, the
        manifest is kept at hand (the rarity worker reads the state next) and the pack blob's journal entry goes;
        if it did not (a moved head, a refusal, an error), the pack blob put for it goes."""
        try:
            yield staged.write
        except BaseException:
            if staged.blob:
                self.abandon_pack(staged.blob)
            raise
        self._remember(staged.state, staged.manifest)
        if staged.blob:
            self.settled(staged.blob)

    # -- pack blobs: unique to the save that puts them, journalled until their row commits ----------------------
    def put_pack(self, fresh: list[tuple[str, Piece]], rows: list[dict[str, Any]],
                 size: int) -> tuple[str, list[dict[str, Any]]]:
        """Put ``fresh`` as one pack blob: SALT random bytes, then the chunks back to back, so the blob is this
        put's alone (no other save can count on it, so one that fails can delete it). Its name goes into the
        journal first, so that ``recover`` finds it if the process dies before its row commits. Returns (its
        digest, ``rows`` with their offsets past the salt); the caller records the row in its transaction, then
        ``settled`` (committed) or ``abandon_pack`` (not)."""
        salt = os.urandom(SALT)
        h = hashlib.sha256(salt)
        for _, p in fresh:
            h.update(p.data)
        pack = h.hexdigest()
        if self.journal is not None:
            (self.journal / pack).touch()
        self.blobs.put_stream(itertools.chain([salt], (p.data for _, p in fresh)), pack)
        return pack, [{**r, "pack_offset": r["pack_offset"] + SALT} for r in rows]

    def settled(self, pack: str) -> None:
        if self.journal is not None:
            (self.journal / pack).unlink(missing_ok=True)

    def abandon_pack(self, pack: str) -> None:
        """Delete pack blob ``pack`` unless its row committed after all (checked: the pack is this process's alone)."""
        with self.meta.transaction() as conn:
            recorded = conn.execute(sa.select(chunk_packs.c.digest).where(chunk_packs.c.digest == pack)).first()
        if recorded is None:
            self.blobs.delete(pack)
        self.settled(pack)

    def recover(self) -> int:
        """Delete the pack blobs this process put whose rows never committed (it died in between); returns how many
        journal entries it settled. Run on start-up, before any save."""
        if self.journal is None:
            return 0
        self.journal.mkdir(parents=True, exist_ok=True)
        names = [p.name for p in self.journal.iterdir() if len(p.name) == 64]
        for name in names:
            self.abandon_pack(name)
        return len(names)

    def _insert_rows(self, conn: Any, rows: list[dict[str, Any]], pack: str, now: float) -> None:
        """The driver's executemany of one statement (SQLAlchemy compiled a multi-row VALUES anew for each save's
        row count: 0.9 ms for 8 rows). A row stored already (a racing save's, or a chunk sent that was not looked up)
        is kept and touched, so that a collection does not sweep it under the state recorded with it."""
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        sql = (f"INSERT INTO chunks (address, pack, pack_offset, length, checked, created_at, touched_at) VALUES "
               f"({', '.join([mark] * 7)}) ON CONFLICT (address) DO UPDATE SET touched_at = excluded.touched_at")
        values = [(r["address"], pack, r["pack_offset"], r["length"], r["checked"], now, now) for r in rows]
        for i in range(0, len(values), BATCH):
            conn.exec_driver_sql(sql, values[i : i + BATCH])

    # -- reading -------------------------------------------------------------------------------------------
    def manifest(self, state: str) -> Manifest | None:
        """The manifest of chunked state ``state``; None for a state stored whole (before chunking)."""
        with self._lock:
            found = self._manifests.get(state)
            if found is not None:
                self._manifests.move_to_end(state)
                return found
        with self.meta.transaction() as conn:
            data = conn.execute(sa.select(chunked_states.c.manifest).where(chunked_states.c.id == state)).scalar()
        if data is None:
            return None
        data = bytes(data)
        if not is_manifest(data) or hashlib.sha256(data).hexdigest() != state:
            raise Corrupt(f"the manifest of state {state} was damaged (it does not hash to the state's id): restore "
                          "the metadata from a backup", state=state)
        found = Manifest.decode(data)
        self._remember(state, found)
        return found

    def cached_manifest(self, state: str) -> Manifest | None:
        """The manifest of ``state`` if this process has it at hand (no metadata read)."""
        with self._lock:
            return self._manifests.get(state)

    def _remember(self, state: str, manifest: Manifest) -> None:
        with self._lock:
            self._manifests[state] = manifest
            while len(self._manifests) > MANIFESTS_CACHED:
                self._manifests.popitem(last=False)

    def read_chunk(self, a: str) -> bytes:
        """One stored chunk's bytes, checked against its address."""
        loc = self.locate([a]).get(a)
        if loc is None:
            raise NotFound(f"chunk {a} is not stored", address=a)
        return next(self._pieces([a], {a: loc}))

    def pieces(self, manifest: Manifest, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """Chunks ``first..last`` (inclusive; default all) of ``manifest``, each checked against its address;
        chunks lying back to back in one pack are read by one ranged read."""
        wanted = manifest.addresses[first : None if last is None else last + 1]
        return self._pieces(wanted, self._where(wanted))

    def _where(self, wanted: Sequence[str]) -> dict[str, Location]:
        where = self.locate(wanted)
        lost = next((a for a in wanted if a not in where), None)
        if lost is not None:
            raise NotFound(f"chunk {lost} of a stored state is gone (collected?): restore it from a backup",
                           address=lost)
        return where

    def _pieces(self, wanted: Sequence[str], where: dict[str, Location]) -> Iterator[bytes]:
        i, moved = 0, False
        while i < len(wanted):
            loc = where[wanted[i]]
            j, end = i + 1, loc.offset + loc.length
            while j < len(wanted) and where[wanted[j]].pack == loc.pack and where[wanted[j]].offset == end \
                    and end - loc.offset < (8 << 20):
                end += where[wanted[j]].length
                j += 1
            raw = self._read_pack(loc.pack, loc.offset, end - loc.offset)
            if raw is None:  # an inline pack moved into a blob since it was located: locate the rest again, once
                if moved:
                    raise NotFound(f"pack {loc.pack} keeps moving while it is read: read again", pack=loc.pack)
                moved, where = True, {**where, **self._where(wanted[i:])}
                continue
            if len(raw) != end - loc.offset:
                raise Corrupt(f"pack {loc.pack} ends before chunk {wanted[j - 1]}", pack=loc.pack)
            view, at = memoryview(raw), 0
            for a in wanted[i:j]:
                n = where[a].length
                piece = view[at : at + n]
                if address(piece) != a:
                    raise Corrupt(f"chunk {a} in pack {loc.pack} was damaged (its bytes hash to {address(piece)}): "
                                  "restore the pack from a replica or backup", address=a, pack=loc.pack)
                yield bytes(piece) if n == len(raw) else piece.tobytes()
                at += n
            i = j

    def _read_pack(self, pack: str, offset: int, length: int) -> bytes | None:
        """Bytes [offset, offset + length) of ``pack``: a blob's by a ranged read, an inline pack's from the
        metadata (None when it is no longer inline: it was moved into a blob)."""
        if len(pack) == 64:
            return self.blobs.read_range(pack, offset, length)
        with self.meta.transaction() as conn:
            data = conn.execute(sa.select(chunk_packs.c.data).where(chunk_packs.c.digest == pack)).scalar()
        return None if data is None else bytes(memoryview(data)[offset : offset + length])

    def span(self, manifest: Manifest, offset: int, length: int) -> tuple[int, int, int]:
        """(first chunk, last chunk, offset into the first) covering bytes [offset, offset+length) of the state."""
        if not 0 <= offset <= manifest.size:
            raise InvalidArgument("offset", offset, f"pass an offset between 0 and the state's size {manifest.size}")
        starts = manifest.offsets()
        first = max(0, bisect.bisect_right(starts, offset) - 1)
        last = max(first, bisect.bisect_right(starts, max(offset, offset + length - 1)) - 1)
        return first, min(last, len(starts) - 1), offset - starts[first] if starts else 0


def _wanted(manifest: Manifest, pieces: Sequence[memoryview], checked: Sequence[str]) -> dict[str, Piece]:
    wanted: dict[str, Piece] = {}
    for a, p, c in zip(manifest.addresses, pieces, checked):
        wanted.setdefault(a, Piece(p, c))
    return wanted


def _rows(fresh: list[tuple[str, Piece]]) -> tuple[list[dict[str, Any]], int]:
    """The chunk rows of ``fresh`` laid back to back in one pack, and the pack's size."""
    rows, at = [], 0
    for a, p in fresh:
        rows.append({"address": a, "pack_offset": at, "length": len(p.data), "checked": p.checked})
        at += len(p.data)
    return rows, at


def _verify(pieces: dict[str, Piece]) -> None:
    for a, piece in pieces.items():
        if address(piece.data) != a:
            raise Corrupt(f"a chunk sent as {a} hashes (BLAKE3) to {address(piece.data)}: nothing was stored; "
                          "send the bytes whose address was offered", field="chunk", address=a)
