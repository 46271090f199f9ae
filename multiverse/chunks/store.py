"""Where chunks live: packed into blobs, located through the metadata, read back checked against their addresses.

A save's new chunks go into one pack: a blob (in either blob store, under the SHA-256 of its bytes) holding them
back to back. The metadata's ``chunks`` table says where each chunk is (pack, offset, length) and what its values
were checked as; ``chunk_packs`` lists every pack, recorded before its bytes are put so that the collector finds
one a crash left behind; ``chunked_states`` lists every manifest put (multiverse/chunks/cut.py). Packing is what
keeps S3 fast: a 512-frame window of 18 KiB frames would otherwise be 512 objects, and a save's 8 new frames 8 PUTs
instead of one.

Order of a put, so that nothing half-written is ever visible: the pack's row, then its bytes (the blob store
verifies and publishes them atomically), then its chunks' rows in one transaction; then the manifest's blob and
its row; only then may a snapshot record name the state. ``touched_at`` on a chunk row is the last time a save
counted on it (an offer that found it present, a manifest that names it): the collector never removes a chunk
touched within its grace window, which is what makes a save safe against a collection running beside it.
"""

from __future__ import annotations

import bisect
from concurrent.futures import ThreadPoolExecutor
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from multiverse.chunks import fence
from multiverse.chunks.cut import Manifest, address, is_manifest
from multiverse.errors import Corrupt, FailedPrecondition, InvalidArgument, NotFound
from multiverse.metadata.models import chunked_states, chunks

BATCH = 500  # addresses per SQL statement (SQLite's bound parameters)
_PUTS = ThreadPoolExecutor(4, thread_name_prefix="manifest-put")
MANIFESTS_CACHED = 4096
# A touch refreshes a chunk's touched_at only when it is older than this: the collector's grace window (hours)
# must exceed it plus the longest save, so that a chunk a save counts on is never swept under it.
TOUCH_SLACK_S = 60.0


# compiled once, the address list bound as one expanding parameter (hundreds of addresses per save)
_LOCATE = sa.select(chunks.c.address, chunks.c.pack, chunks.c.pack_offset, chunks.c.length, chunks.c.checked).where(
    chunks.c.address.in_(sa.bindparam("part", expanding=True)))
_TOUCH = chunks.update().where(chunks.c.address.in_(sa.bindparam("part", expanding=True)),
                               chunks.c.touched_at < sa.bindparam("before")).values(touched_at=sa.bindparam("now"))


@dataclass(frozen=True)
class Location:
    pack: str
    offset: int
    length: int
    checked: str  # the dtype its values were checked as ("" for raw bytes: header)


@dataclass(frozen=True)
class Piece:
    """A chunk to store: its bytes and the dtype they were checked as ("" for raw bytes)."""

    data: bytes | memoryview
    checked: str = ""


class ChunkStore:
    def __init__(self, meta: Any, blobs: Any, clock: Callable[[], float] = time.time) -> None:
        self.meta, self.blobs, self.clock = meta, blobs, clock
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._lock = threading.Lock()

    # -- what is there -------------------------------------------------------------------------------------
    def locate(self, addresses: Sequence[str], *, touch: bool = False) -> dict[str, Location]:
        """Where each stored one of ``addresses`` lives; with ``touch`` their grace window restarts now (rows
        touched within the last TOUCH_SLACK_S seconds are left as they are: a save's hundreds of unchanged chunks
        cost no write, and the collector's grace window is far longer than that slack)."""
        found: dict[str, Location] = {}
        unique = list(dict.fromkeys(addresses))
        now = self.clock()
        with self.meta.transaction(write=touch) as conn:
            for i in range(0, len(unique), BATCH):
                part = unique[i : i + BATCH]
                if touch:
                    conn.execute(_TOUCH, {"part": part, "now": now, "before": now - TOUCH_SLACK_S})
                rows = conn.execute(_LOCATE, {"part": part})
                for a, pack, offset, length, checked in rows:
                    found[a] = Location(pack, offset, length, checked)
        return found

    def missing(self, addresses: Sequence[str]) -> list[int]:
        """The positions in ``addresses`` of the chunks not stored; the stored ones are touched (kept through the
        grace window, long enough for the save that asked to send what is missing and commit)."""
        have = self.locate(addresses, touch=True)
        return [i for i, a in enumerate(addresses) if a not in have]

    # -- writing -------------------------------------------------------------------------------------------
    def put_chunks(self, pieces: dict[str, Piece]) -> int:
        """Store the chunks ``{address: Piece}`` that are not stored yet as one pack (each piece is checked against
        its address first: Corrupt, nothing stored); returns the bytes written."""
        _verify(pieces)
        have = self.locate(list(pieces), touch=True)
        fresh = [(a, p) for a, p in pieces.items() if a not in have]
        rows, pack, size = self._put_pack(fresh)
        if rows:
            with self.meta.transaction(write=True) as conn:
                fence.hold(conn, pack, [], self.clock(), TOUCH_SLACK_S)  # the pack is still its own (fence.py)
                self._insert_rows(conn, rows, pack)
        return size

    def put_manifest(self, manifest: Manifest) -> str:
        """Store ``manifest`` (every chunk it names must be stored: FailedPrecondition naming the first that is not)
        and return the state's id. Its chunks are touched, so they outlive any collection for the grace window."""
        return self.put(manifest, {})

    def put_state(self, data: bytes | memoryview, pieces: Sequence[memoryview], manifest: Manifest,
                  checked: Sequence[str], *, verified: bool = False) -> str:
        """A whole state file already cut (``cut.cut``), its chunks checked as ``checked[i]``: store what is new,
        then the manifest; returns the state's id. ``verified``: the pieces were hashed to their addresses by the
        caller (``cut.cut`` did), so they are not hashed again."""
        wanted: dict[str, Piece] = {}
        for a, p, c in zip(manifest.addresses, pieces, checked):
            wanted.setdefault(a, Piece(p, c))
        return self.put(manifest, wanted, verified=verified)

    def put(self, manifest: Manifest, new: dict[str, Piece], *, verified: bool = False,
            located: dict[str, Location] | None = None) -> str:
        """Store the chunks ``new`` ({address: Piece}) that are not stored yet as one pack, then ``manifest``, whose
        every other chunk must be stored (FailedPrecondition naming the first that is not); returns the state's id.
        ``located``: ``locate(manifest.addresses, touch=True)`` as the caller just did it (not asked again).

        Order: the pack's row, its bytes, the manifest's blob; then the chunks' rows and the manifest's row in one
        transaction, so a state is either fully recorded or not at all."""
        if not verified:
            _verify(new)
        have = self.locate(manifest.addresses, touch=True) if located is None else located
        lost = next((i for i, a in enumerate(manifest.addresses) if a not in have and a not in new), None)
        if lost is not None:
            raise FailedPrecondition(
                f"chunks[{lost}] ({manifest.addresses[lost]}) of the state is not stored (never sent, or collected "
                "since it was offered): ask which chunks are missing again and send them", field=f"chunks[{lost}]")
        # the manifest's blob is put on a second thread while the pack goes up: their flushes overlap
        putting = _PUTS.submit(self.blobs.put_bytes, manifest.encode())
        try:
            rows, pack, _ = self._put_pack([(a, p) for a, p in new.items() if a not in have])
        finally:
            state = putting.result()
        with self.meta.transaction(write=True) as conn:
            fence.hold(conn, pack, [a for a in manifest.addresses if a in have], self.clock(), TOUCH_SLACK_S)
            self._insert_rows(conn, rows, pack)
            # recorded, or its grace window restarted; Unavailable while a collection removes these bytes (fence.py)
            fence.record_state(conn, self.meta.insert, state, manifest.size, len(manifest.addresses), self.clock())
        self._remember(state, manifest)
        return state

    def _put_pack(self, fresh: list[tuple[str, Piece]]) -> tuple[list[dict[str, Any]], str, int]:
        """Put ``fresh`` as one pack blob (its row first); returns (the chunk rows to insert, pack, bytes)."""
        if not fresh:
            return [], "", 0
        h, at, rows = hashlib.sha256(), 0, []
        for a, p in fresh:
            h.update(p.data)
            rows.append({"address": a, "pack_offset": at, "length": len(p.data), "checked": p.checked})
            at += len(p.data)
        pack, now = h.hexdigest(), self.clock()
        with self.meta.transaction(write=True) as conn:  # first, so that a crash's orphan pack is found
            fence.record_pack(conn, self.meta.insert, pack, at, now)  # as record_state (fence.py)
        self.blobs.put_stream((p.data for _, p in fresh), pack)
        return rows, pack, at

    def _insert_rows(self, conn: Any, rows: list[dict[str, Any]], pack: str) -> None:
        now = self.clock()
        for i in range(0, len(rows), BATCH):
            values = [{**r, "pack": pack, "created_at": now, "touched_at": now} for r in rows[i : i + BATCH]]
            conn.execute(self.meta.insert(chunks).values(values).on_conflict_do_nothing())  # a racing save's copy wins

    # -- reading -------------------------------------------------------------------------------------------
    def manifest(self, state: str) -> Manifest | None:
        """The manifest of chunked state ``state``; None for a state stored whole (before chunking)."""
        with self._lock:
            found = self._manifests.get(state)
            if found is not None:
                self._manifests.move_to_end(state)
                return found
        with self.meta.transaction() as conn:
            known = conn.execute(sa.select(chunked_states.c.id).where(chunked_states.c.id == state)).first()
        if known is None:
            return None
        data = self.blobs.read(state, verify=True)
        if not is_manifest(data):
            raise Corrupt(f"state {state} is recorded as chunked but its blob is not a manifest", state=state)
        found = Manifest.decode(data)
        self._remember(state, found)
        return found

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
        where = self.locate(wanted)
        lost = next((a for a in wanted if a not in where), None)
        if lost is not None:
            raise NotFound(f"chunk {lost} of a stored state is gone (collected?): restore it from a backup",
                           address=lost)
        return self._pieces(wanted, where)

    def _pieces(self, wanted: Sequence[str], where: dict[str, Location]) -> Iterator[bytes]:
        i = 0
        while i < len(wanted):
            loc = where[wanted[i]]
            j, end = i + 1, loc.offset + loc.length
            while j < len(wanted) and where[wanted[j]].pack == loc.pack and where[wanted[j]].offset == end \
                    and end - loc.offset < (8 << 20):
                end += where[wanted[j]].length
                j += 1
            raw = self.blobs.read_range(loc.pack, loc.offset, end - loc.offset)
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

    def span(self, manifest: Manifest, offset: int, length: int) -> tuple[int, int, int]:
        """(first chunk, last chunk, offset into the first) covering bytes [offset, offset+length) of the state."""
        if not 0 <= offset <= manifest.size:
            raise InvalidArgument("offset", offset, f"pass an offset between 0 and the state's size {manifest.size}")
        starts = manifest.offsets()
        first = max(0, bisect.bisect_right(starts, offset) - 1)
        last = max(first, bisect.bisect_right(starts, max(offset, offset + length - 1)) - 1)
        return first, min(last, len(starts) - 1), offset - starts[first] if starts else 0


def _verify(pieces: dict[str, Piece]) -> None:
    for a, piece in pieces.items():
        if address(piece.data) != a:
            raise Corrupt(f"a chunk sent as {a} hashes (BLAKE3) to {address(piece.data)}: nothing was stored; "
                          "send the bytes whose address was offered", field="chunk", address=a)
