"""Saving a state as chunks: a whole-file save's cut, and a chunked save that sends only what is missing.

Every save stores its state as content-addressed chunks (multiverse/chunks; spec docs/chunks.md), and the
snapshot's ``state`` is the SHA-256 of the state's manifest. Two ways in:

- ``store_whole``: a whole-file save (``Store.save``), spooled and validated as one stream, is cut here and its
  new chunks staged for the commit (``ChunkStore.stage``), what its head holds known as for a chunked save;
- ``ChunkedSaves.save``: the client offered a manifest and sends only the chunks the server lacks
  (``find_missing``). It is checked as a whole-file save is, piece by piece: the manifest must be the canonical
  cut of its own header (so the same bytes always get the same id), every sent chunk must hash to its address
  (a lie is InvalidArgument naming ``chunks[i]``), the header is validated in full, every sent frame or player
  chunk's values are scanned, and a stored chunk is trusted only for a check it passed when it was stored
  (``validate.covers``; else it is read and scanned). Only then is anything stored: the new chunks as one pack,
  the manifest, then the record and the head by the same compare-and-swap as any save.

Vector ids (each frame's and player's sha256, recorded as discoveries with the commit) are kept per chunk address
(``RowIds``), so a sliding window hashes only its new frames, whichever way it is saved.
"""

from __future__ import annotations

import hashlib
import mmap
import uuid
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from multiverse.chunks.cut import PIECE_MAX, Manifest, address, check_lengths, cut, header_lengths, hexes
from multiverse.chunks.store import INLINE_MAX, ChunkStore, Piece, Staged
from multiverse.errors import FailedPrecondition, InvalidArgument
from multiverse.kept import Kept
from multiverse.records import SnapshotRecord, SpaceRecord
from multiverse.state.format import Header, StateInfo, Tensor, parse_length
from multiverse.state.validate import check_header, check_values, checked_as, covers
from multiverse.state.vectors import KINDS, canonical_header

if TYPE_CHECKING:
    from multiverse.store.auth import Principal
    from multiverse.store.store import SaveRequest, Store

MAX_OFFERED = 1 << 16  # addresses in one FindMissingChunks (2 MiB of digests)
IN_MEMORY = 16 << 20  # sent chunks beyond this go to a spool file (mapped) instead of the heap
ROW_IDS_CACHED = 1 << 16
ROLES_CACHED = 64  # chunk layouts (tensor shapes and cut) whose roles are kept


@dataclass(frozen=True)
class Role:
    """What chunk i of a state is: header bytes (``tensor`` None) or tensor data from byte ``begin`` of it."""

    tensor: Tensor | None
    begin: int
    need: str  # the check its values need (validate.checked_as), "" for header bytes


def roles(header: Header, header_chunks: int, lengths: Sequence[int], vocab: int) -> list[Role]:
    """Each chunk's role, for a manifest whose lengths are the canonical cut (``header_chunks`` header chunks, then
    the tensors' data in order)."""
    out = [Role(None, 0, "")] * header_chunks
    tensors = sorted((t for t in header.tensors if t.end > t.begin), key=lambda t: t.begin)
    needs = {t.name: checked_as(t, vocab) for t in tensors}
    at, k = 0, 0  # offset in the data section; the tensor it falls in
    for n in lengths[header_chunks:]:
        while tensors[k].end <= at:
            k += 1
        t = tensors[k]
        out.append(Role(t, at - t.begin, needs[t.name]))
        at += n
    return out


def find_missing(chunks: ChunkStore, raw: bytes) -> list[int]:
    """The positions of the addresses in ``raw`` (concatenated 32-byte BLAKE3 digests) that are not stored; the
    stored ones are touched (kept through the collector's grace window)."""
    if len(raw) % 32 or not raw:
        raise InvalidArgument("addresses", f"{len(raw)} bytes", "concatenate one or more 32-byte BLAKE3 digests")
    if len(raw) // 32 > MAX_OFFERED:
        raise InvalidArgument("addresses", f"{len(raw) // 32} addresses", f"ask about at most {MAX_OFFERED} per call")
    return chunks.missing(hexes(raw))


def located(chunks: ChunkStore, manifest: Manifest, parent: str | None,
            sent: AbstractSet[str] = frozenset()) -> tuple[dict[str, str], frozenset[str]]:
    """({address: the check its bytes passed} of the stored chunks of ``manifest``, the addresses of state
    ``parent``'s chunks) for a save on top of ``parent`` (None: the world's first): the chunks of the parent's manifest
    (when this process has it at hand) whose check it remembers come from memory, the rest but those ``sent`` from the
    metadata (``chunks.locate``; multiverse/chunks/known.py says why that is safe); no parent's chunks when it is not
    at hand. A save uses only which chunks are stored and their checks, not where they lie."""
    held = chunks.cached_manifest(parent) if parent else None
    known = chunks.checks.of(held.addresses) if held is not None else {}
    found = {a: known[a] for a in manifest.addresses if a in known}
    ask = [a for a in manifest.addresses if a not in found and a not in sent]
    if ask:
        found.update((a, loc.checked) for a, loc in chunks.locate(ask).items())
    return found, frozenset(held.addresses) if held is not None else frozenset()


class RowIds:
    """The vector ids (sha256 of canonical bytes, multiverse.state.vectors) of the rows a chunk holds, kept per
    chunk address and row format: a chunk seen before costs no hashing."""

    def __init__(self) -> None:
        self._ids: Kept[tuple[str, bytes], tuple[str, ...]] = Kept(ROW_IDS_CACHED)

    def vectors(self, header: Header, manifest: Manifest, parts: Sequence[Role], data: dict[int, bytes | memoryview],
                read: Callable[[int], bytes | memoryview]) -> list[tuple[str, str, int]]:
        """Every distinct vector of the state as (digest, kind, row: a ``HeldVector``'s fields), at its first row
        (frames first). ``data``: chunk bytes at hand by index; ``read(i)``: chunk i's bytes otherwise (a stored
        chunk whose ids are not cached)."""
        first: dict[str, tuple[str, str, int]] = {}
        for name, kind in KINDS.items():
            t = header.tensor(name)
            prefix = canonical_header(t.dtype.code, t.shape[1:])
            row = t.row_bytes
            idx = [i for i, r in enumerate(parts) if r.tensor is not None and r.tensor.name == name]
            whole = row and all(manifest.lengths[i] % row == 0 for i in idx)
            ids: list[str] = []
            if whole:
                keys = [(manifest.addresses[i], prefix) for i in idx]
                known = self._ids.of(keys)
                for i, key in zip(idx, keys):
                    if key not in known:
                        known[key] = _hash_rows(prefix, row, [data[i] if i in data else read(i)])
                        self._ids.put(key, known[key])
                    ids += known[key]
            elif row:  # rows cut across chunks (frames over 1 MiB): hash them from the bytes
                ids = list(_hash_rows(prefix, row, [data[i] if i in data else read(i) for i in idx]))
            for r, digest in enumerate(ids):
                if digest not in first:
                    first[digest] = (digest, kind, r)
        return list(first.values())


def _hash_rows(prefix: bytes, row: int, pieces: Iterable[bytes | memoryview]) -> tuple[str, ...]:
    """sha256(prefix + row) of each ``row``-byte row of the concatenation of ``pieces``."""
    base, out = hashlib.sha256(prefix), []
    h, filled = base.copy(), 0
    for piece in pieces:
        view = memoryview(piece)
        while view:
            take = min(row - filled, len(view))
            h.update(view[:take])
            filled, view = filled + take, view[take:]
            if filled == row:
                out.append(h.hexdigest())
                h, filled = base.copy(), 0
    return tuple(out)


def store_whole(chunks: ChunkStore, data: bytes | memoryview, header: Header, vocab: int, parent: str | None,
                row_ids: RowIds) -> tuple[Staged, list[tuple[str, str, int]]]:
    """A validated whole state file -> its chunks staged (ChunkStore.stage) for the commit that names the state, on
    top of state ``parent`` (what it holds is known as for a chunked save: ``located``), and its vectors (``RowIds``:
    only rows of chunks not seen before are hashed)."""
    manifest, pieces = cut(data)
    n_head = len(header_lengths(memoryview(data)[: header.data_start]))
    parts = roles(header, n_head, manifest.lengths, vocab)
    wanted: dict[str, Piece] = {}
    for a, p, r in zip(manifest.addresses, pieces, parts):
        wanted.setdefault(a, Piece(p, r.need))
    vectors = row_ids.vectors(header, manifest, parts, dict(enumerate(pieces)), pieces.__getitem__)
    have, inherited = located(chunks, manifest, parent)
    return chunks.stage(manifest, wanted, verified=True, located=have, inherited=inherited), vectors


class _Arrivals:
    """The chunks a save sent, by index: checked against the manifest as they arrive, held in memory up to
    IN_MEMORY bytes and in a spool file beyond (mapped when the save is checked)."""

    def __init__(self, manifest: Manifest, spool: Path) -> None:
        self.manifest, self.spool = manifest, spool
        self.by_index: dict[int, bytes | memoryview] = {}
        self._by_address: dict[str, int] = {}
        self._spooled: list[tuple[int, int, int]] = []  # (index, offset, length)
        self._held, self._file, self._map = 0, None, None
        self.bytes = 0  # of the distinct chunks sent

    def add(self, index: int, data: bytes) -> None:
        m = self.manifest
        if not 0 <= index < len(m.addresses):
            raise InvalidArgument("chunk.index", index, f"name a chunk of the manifest: 0 to {len(m.addresses) - 1}")
        if index in self.by_index or any(i == index for i, _, _ in self._spooled):
            raise InvalidArgument(f"chunks[{index}]", "sent twice", "send each chunk once")
        if len(data) != m.lengths[index]:
            raise InvalidArgument(f"chunks[{index}]", f"{len(data)} bytes",
                                  f"the manifest says chunk {index} holds {m.lengths[index]} bytes: send exactly those")
        got = address(data)
        if got != m.addresses[index]:
            raise InvalidArgument(f"chunks[{index}]", f"bytes hashing (BLAKE3) to {got}",
                                  f"send the bytes whose address the manifest gives ({m.addresses[index]}); nothing "
                                  "was stored")
        if got in self._by_address:
            return  # the same bytes as another index's: kept once
        self._by_address[got] = index
        self.bytes += len(data)
        if self._held + len(data) <= IN_MEMORY:
            self.by_index[index] = data
            self._held += len(data)
            return
        if self._file is None:
            self._file = open(self.spool, "w+b")  # noqa: SIM115 - closed in close()
        at = self._file.tell()
        self._file.write(data)
        self._spooled.append((index, at, len(data)))

    def finish(self) -> None:
        """Map the spooled chunks, so every sent chunk is in ``by_index`` (as a view)."""
        if self._file is not None and self._spooled:
            self._file.flush()
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            view = memoryview(self._map)
            for i, at, n in self._spooled:
                self.by_index[i] = view[at : at + n]

    @property
    def addresses(self) -> AbstractSet[str]:
        """The addresses of the chunks sent."""
        return self._by_address.keys()

    def present(self, index: int) -> bytes | memoryview | None:
        """Chunk ``index``'s bytes when they were sent (under this index or another with the same address)."""
        if index in self.by_index:
            return self.by_index[index]
        other = self._by_address.get(self.manifest.addresses[index])
        return None if other is None else self.by_index.get(other)

    def close(self) -> None:
        self.by_index.clear()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view is still alive somewhere: the mapping goes with it
                pass
        if self._file is not None:
            self._file.close()
        self.spool.unlink(missing_ok=True)


class ChunkedSaves:
    """The chunked save of one Store (see the module docstring)."""

    def __init__(self, store: Store, chunks: ChunkStore) -> None:
        self.store, self.chunks = store, chunks
        self.row_ids = RowIds()
        self._roles: Kept[tuple, tuple[Role, ...]] = Kept(ROLES_CACHED)  # a world's saves share their layout

    def save(self, who: Principal, req: SaveRequest, manifest: Manifest | tuple[int, bytes, Sequence[int]],
             sent: Iterable[tuple[int, bytes]]) -> tuple[SnapshotRecord, bool, str]:
        """Check, store and commit a chunked save: ``manifest`` (from the wire, bounded), then the chunks ``sent``
        as (index, bytes); a manifest as the wire's (size, addresses, lengths) is decoded once ``who`` may write the
        world, bounded by the header's size. Returns (record, created, the state's id); ``Store.save_chunks`` checks
        a replayed idempotency key against it."""
        store = self.store
        world = store._writable_world(who, req)
        if isinstance(manifest, tuple):
            if len(manifest[1]) // 32 > req.size or len(manifest[2]) > req.size:
                raise InvalidArgument("manifest.addresses", f"{len(manifest[1]) // 32} chunks",
                                      f"a {req.size}-byte state has at most {req.size} chunks")
            manifest = Manifest.from_wire(manifest, size=None)
        if manifest.size != req.size:
            raise InvalidArgument("manifest.size", manifest.size, f"the header says {req.size} bytes: send one size")
        space = store.facts.space(world.space)
        parent = store.facts.parent(req.expected_parent) if req.expected_parent else None
        got = _Arrivals(manifest, store.spool_dir / f"{uuid.uuid4().hex}.chunks")
        try:
            for index, data in sent:
                got.add(index, data)
            got.finish()
            # a read: the commit's transaction touches and re-counts what this save counts on (fence.hold), so a write
            # transaction here would only queue the save behind other writers for nothing. The chunks sent are not
            # looked up unless they make a pack blob: one stored already is then stored again inline, its row kept and
            # touched by the commit (ChunkStore.stage), and the flusher drops the copy
            have, inherited = located(self.chunks, manifest, parent.state if parent else None,
                                      sent=got.addresses if got.bytes <= INLINE_MAX else frozenset())

            def read(i: int) -> bytes | memoryview:
                found = got.present(i)
                if found is not None:
                    return found
                if manifest.addresses[i] not in have:
                    raise FailedPrecondition(
                        f"chunks[{i}] ({manifest.addresses[i]}) was neither sent nor stored (collected since it was "
                        "found present?): ask which chunks are missing again and send them", field=f"chunks[{i}]")
                return self.chunks.read_chunk(manifest.addresses[i])

            for i, a in enumerate(manifest.addresses):  # every chunk is at hand before any is read
                if a not in have and got.present(i) is None:
                    read(i)
            header, info, parts = self._check(manifest, read, space, req.size)
            for i, role in enumerate(parts):
                if role.tensor is None:
                    continue
                checked = have.get(manifest.addresses[i])
                if checked is not None and covers(checked, role.need):
                    continue
                check_values(role.tensor, space.vocab_size, read(i), role.begin)
            vectors = self.row_ids.vectors(header, manifest, parts, got.by_index, read)
            new = {}
            for i, role in enumerate(parts):
                a = manifest.addresses[i]
                data = got.present(i)
                if a not in have and data is not None and a not in new:
                    new[a] = Piece(data, role.need)
            # the commit moves the head from ``parent``: what the save inherits from it is held (fence.py)
            staged = self.chunks.stage(manifest, new, verified=True, located=have, inherited=inherited)
            state = staged.state
            record = store._record(who, req, world, parent, state, info)
            with self.chunks.recording(staged) as write:
                committed, created = store.meta.commit_snapshot(
                    record, head=req.head, expected=parent.id if parent else None,
                    idempotency_key=req.idempotency_key, principal=who.name, vectors=vectors,
                    also=write)  # the new chunks (or their pack's row) and the manifest: one transaction
        finally:
            got.close()
        return committed, created, state

    def _check(self, manifest: Manifest, read: Callable[[int], bytes | memoryview], space: SpaceRecord,
               size: int) -> tuple[Header, StateInfo, Sequence[Role]]:
        """The header assembled from its chunks, validated; the manifest checked to be its canonical cut."""
        first = read(0)
        n = parse_length(bytes(first[:8]), size=size, max_bytes=self.store.limits.max_header_bytes)
        end, count = 8 + n, 0
        at = 0
        while at < end and count < len(manifest.lengths):
            at += manifest.lengths[count]
            count += 1
        if at != end:
            raise InvalidArgument("manifest.lengths", f"chunks end at byte {at}",
                                  f"the header ({end} bytes with its prefix) must end at a chunk boundary: cut the "
                                  "state as docs/chunks.md says")
        head = b"".join(bytes(read(i)) for i in range(count))
        header, info = check_header(head, size, space, self.store.limits)
        check_lengths(manifest, head, header)
        if any(n > PIECE_MAX for n in manifest.lengths):  # from_wire refuses them; kept for direct callers
            raise InvalidArgument("manifest.lengths", max(manifest.lengths), f"chunks hold at most {PIECE_MAX} bytes")
        key = (header.tensors, count, manifest.lengths[count:], space.vocab_size)  # all that the roles depend on
        parts = self._roles.get(key)
        if parts is None:
            parts = self._roles.put(key, tuple(roles(header, count, manifest.lengths, space.vocab_size)))
        return header, info, parts
