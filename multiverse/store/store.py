"""The store: the domain behind the Store service. Spaces, worlds, saving and loading snapshots, lineage.

Saving follows one order so that nothing acknowledged is lost and nothing half-written is visible:
spool the upload to a private file while hashing it -> validate it against the latent space -> cut it into
content-addressed chunks and store the new ones and its manifest (multiverse/store/chunked.py; the blob store
verifies each blob's hash and makes it visible atomically) -> commit the record and move the head in one metadata
transaction (compare-and-swap). A crash at any point leaves at most an unreferenced spool file, pack or manifest,
never a record that points at missing or partial bytes. A chunked save (``save_chunks``) sends only the chunks
the server lacks and keeps the same order. A snapshot's ``state`` is its manifest's sha256; states stored whole
before chunking keep the sha256 of their bytes and load as they are (multiverse/chunks/blobs.py).
"""

from __future__ import annotations

import hashlib
import mmap
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from multiverse.blobs.base import CHUNK, BlobStore
from multiverse.chunks.blobs import StateBlobs
from multiverse.chunks.cut import Manifest
from multiverse.chunks.store import ChunkStore, Staged
from multiverse.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from multiverse.metadata.base import Metadata
from multiverse.records import (
    DEFAULT_HEAD,
    PRIVATE,
    ROLE_ADMIN,
    ROLE_SERVER,
    SnapshotRecord,
    SpaceRecord,
    WorldRecord,
)
from multiverse.state.format import StateInfo
from multiverse.state.limits import Limits
from multiverse.state.spaces import check_name, validate_space
from multiverse.state.validate import StateValidator
from multiverse.store.auth import Principal, can_manage, can_read, mint_key, reader_name
from multiverse.store.chunked import ChunkedSaves, find_missing, store_whole
from multiverse.store.facts import Facts
from multiverse.store.visibility import check_settings, unseen_snapshot, unseen_world

HEX_RE = re.compile(r"^[0-9a-f]{8,64}$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
KEY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True)
class SaveRequest:
    """The header of a save; the state file's bytes come separately as chunks."""

    world: str
    size: int
    head: str = DEFAULT_HEAD
    expected_parent: str = ""  # "" : the head must not exist yet
    idempotency_key: str = ""
    sha256: str = ""
    labels: dict[str, str] = field(default_factory=dict)


class EndDigest(str):
    """The last item of an upload may be the sha256 of all the chunks before it (a client that hashes while it
    streams sends it last instead of in the header); it is verified before anything is stored."""


@dataclass(frozen=True)
class Loaded:
    record: SnapshotRecord
    size: int
    chunks: Iterator[bytes]
    manifest: Manifest | None = None  # a chunked state's (the client checks the bytes against it); None: whole


class Store:
    def __init__(
        self,
        meta: Metadata,
        blobs: BlobStore,
        spool_dir: Path,
        limits: Limits = Limits(),  # noqa: B008 - a frozen dataclass
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(blobs, StateBlobs):  # App wraps it already; a bare blob store gets the wrapper here
            blobs = StateBlobs(blobs, ChunkStore(meta, blobs, clock))
        self.meta, self.blobs, self.limits, self.clock = meta, blobs, limits, clock
        self.chunks: ChunkStore = blobs.chunks
        self.chunked = ChunkedSaves(self, self.chunks)
        self.facts = Facts(meta)  # what a save reads that does not change: no metadata read for it
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)

    def recover(self) -> int:
        """Drop spool files left by uploads that were interrupted (for example by a crash); returns how many."""
        stale = list(self.spool_dir.iterdir())
        for path in stale:
            path.unlink(missing_ok=True) if path.is_file() else shutil.rmtree(path, ignore_errors=True)
        return len(stale)

    # spaces -----------------------------------------------------------------------------------------
    def register_space(self, who: Principal, space: SpaceRecord) -> SpaceRecord:
        require_admin(who, "register a latent space")
        validate_space(space, max_players=self.limits.max_players)
        return self.meta.put_space(replace(space, created_at=self.clock()))

    def get_space(self, name: str) -> SpaceRecord:
        return self.meta.get_space(name)

    def list_spaces(self) -> list[SpaceRecord]:
        return self.meta.list_spaces()

    # worlds -----------------------------------------------------------------------------------------
    def create_world(self, who: Principal, name: str, space: str, owner: str = "", description: str = "",
                     visibility: str = PRIVATE, readers: Sequence[str] = ()) -> WorldRecord:
        """A new world, private to its owner (and admins) unless ``visibility`` says otherwise (multiverse.store.visibility)."""
        check_name("world.name", name)
        owner = owner or who.name
        if not who.admin and owner != who.name:
            raise PermissionDenied(f"server {who.name!r} may create worlds only for itself, not for {owner!r}")
        check_name("world.owner", owner)
        if len(description) > 1024:
            raise InvalidArgument("world.description", description, "use at most 1024 characters")
        visibility, readers = check_settings(visibility or PRIVATE, readers, field="world.visibility",
                                             readers_field="world.readers")
        self.meta.get_space(space)
        try:
            return self.meta.create_world(WorldRecord(name, space, owner, self.clock(), description,
                                                      visibility=visibility, readers=readers))
        except AlreadyExists:
            if can_read(who, self.meta.get_world(name, deleted=True)):
                raise  # its settings, which the caller may read, are in the message
            raise AlreadyExists(f"world name {name!r} is taken (by a world {who.name!r} may not read): pick "
                                "another name", world=name) from None

    def set_world_visibility(self, who: Principal, name: str, visibility: str, readers: Sequence[str] = ()) -> WorldRecord:
        """The owner or an admin sets who may read world ``name`` (``readers`` replaces its share list)."""
        world = self.readable_world(who, name)
        if not can_manage(who, world):
            raise PermissionDenied(f"world {name!r} belongs to {world.owner!r}: only its owner or an admin may set "
                                   f"who reads it, not {who.name!r}")
        visibility, readers = check_settings(visibility, readers)
        return self.meta.set_world_visibility(name, visibility, readers)

    def get_world(self, name: str) -> WorldRecord:
        """Any world, unchecked: for the domain's own lookups. A caller's read goes through ``readable_world``."""
        return self.meta.get_world(name)

    def readable_world(self, who: Principal, name: str) -> WorldRecord:
        """World ``name`` if ``who`` may read it; NotFound in the same words when it is absent or hidden."""
        check_name("world", name)
        try:
            world = self.meta.get_world(name)
        except NotFound:
            if who.admin:
                raise
            raise unseen_world(who, name) from None
        if not can_read(who, world):
            raise unseen_world(who, name)
        return world

    def list_worlds(self, *, space: str = "", owner: str = "", after: str = "", limit: int = 100,
                    reader: str | None = None) -> list[WorldRecord]:
        """Worlds by name after ``after``; with ``reader`` (``auth.reader_name``) only those it may read."""
        return self.meta.list_worlds(space=space or None, owner=owner or None, after=after, limit=_page(limit),
                                     reader=reader)

    # snapshots --------------------------------------------------------------------------------------
    def save(self, who: Principal, req: SaveRequest, chunks: Iterable[bytes | EndDigest]) -> tuple[SnapshotRecord, bool]:
        """Store one state and move ``world@head`` to it. Returns (record, created); created is False when
        the idempotency key was seen before for the same state and head, in which case nothing changed. A key
        reused for other bytes or another head is refused (AlreadyExists naming the first snapshot): replaying
        the first result would drop this save without a word."""
        world = self._writable_world(who, req)
        space = self.facts.space(world.space)
        parent = self.facts.parent(req.expected_parent) if req.expected_parent else None
        spool = self.spool_dir / f"{uuid.uuid4().hex}.upload"
        try:
            check = StateValidator(space, self.limits, req.size)
            digest = self._spool(req, chunks, spool, check)
            info = check.finish()
            # its chunks staged, and each vector's sha256 (its discovery is recorded with the commit)
            staged, vectors = self._stage_chunks(spool, check, space.vocab_size, parent.state if parent else None)
            state = staged.state
            record = self._record(who, req, world, parent, state, info)
            with self.chunks.recording(staged) as write:
                committed, created = self.meta.commit_snapshot(
                    record,
                    head=req.head,
                    expected=parent.id if parent else None,
                    idempotency_key=req.idempotency_key,
                    principal=who.name,
                    vectors=vectors,
                    also=write,  # the new chunks (or their pack's row) and the manifest: one transaction
                )
        finally:
            spool.unlink(missing_ok=True)
        if not created:
            _same_save(req, committed, state)
        self.facts.saved(committed)
        return committed, created

    def _stage_chunks(self, spool: Path, check: StateValidator, vocab: int,
                      parent: str | None) -> tuple[Staged, list[tuple[str, str, int]]]:
        """The validated state file at ``spool`` cut and staged (ChunkStore.stage) for the commit on top of state
        ``parent``, and its vectors."""
        with open(spool, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return store_whole(self.chunks, memoryview(mapped), check.header, vocab, parent, self.chunked.row_ids)
        finally:
            try:
                mapped.close()
            except BufferError:  # a view outlives the call (a raised error's frame): the mapping goes with it
                pass

    def find_missing_chunks(self, who: Principal, addresses: bytes) -> list[int]:
        """The positions of the addresses (concatenated 32-byte BLAKE3 digests) the store lacks, for a save by
        ``who`` (a server or admin key); the ones it has are kept through the collector's grace window."""
        return find_missing(self.chunks, addresses)

    def save_chunks(self, who: Principal, req: SaveRequest, manifest: Manifest,
                    sent: Iterable[tuple[int, bytes]]) -> tuple[SnapshotRecord, bool]:
        """``save`` of a state offered as ``manifest`` with only the chunks the store lacks ``sent`` as (index,
        bytes): checked, stored and committed as ``save`` (multiverse/store/chunked.py)."""
        committed, created, state = self.chunked.save(who, req, manifest, sent)
        if not created:
            _same_save(req, committed, state)
        self.facts.saved(committed)
        return committed, created

    def _writable_world(self, who: Principal, req: SaveRequest) -> WorldRecord:
        check_name("header.world", req.world)
        check_name("header.head", req.head)
        world = self.facts.writer_world(req.world)  # its owner never changes; the commit re-reads the rest
        if world is None or not (who.admin or world.owner == who.name):
            world = self.readable_world(who, req.world)  # a world it may not read: as if it did not exist
        if not who.admin and world.owner != who.name:
            raise PermissionDenied(f"world {world.name!r} belongs to {world.owner!r}; server {who.name!r} may write only its own worlds")
        if req.expected_parent and not SHA_RE.match(req.expected_parent):
            raise InvalidArgument("header.expected_parent", req.expected_parent, "use the full 64-hex id of the current head, or empty for the first save")
        if not 0 < req.size <= self.limits.max_state_bytes:
            raise InvalidArgument("header.size", req.size, f"send the state file's size in bytes, 1 to {self.limits.max_state_bytes} (the server's cap)")
        if req.sha256 and not SHA_RE.match(req.sha256):
            raise InvalidArgument("header.sha256", req.sha256, "use 64 lower-case hex digits, or leave it empty")
        if req.idempotency_key and not KEY_RE.match(req.idempotency_key):
            raise InvalidArgument("header.idempotency_key", req.idempotency_key, "use 1-128 printable ASCII characters without spaces")
        if len(req.labels) > self.limits.max_labels or any(len(k) > 64 or len(v) > 256 for k, v in req.labels.items()):
            raise InvalidArgument("header.labels", f"{len(req.labels)} labels", f"use at most {self.limits.max_labels} labels, keys <= 64 and values <= 256 characters")
        self.facts.saw_world(world)
        return world

    def _spool(self, req: SaveRequest, chunks: Iterable[bytes | EndDigest], spool: Path, check: StateValidator) -> str:
        """Write the upload to ``spool``, hashing and validating it as it arrives; returns its sha256."""
        h, got, claimed = hashlib.sha256(), 0, [("header.sha256", req.sha256)] if req.sha256 else []
        with open(spool, "wb") as f:
            for chunk in chunks:
                if isinstance(chunk, EndDigest):
                    if not SHA_RE.match(chunk):
                        raise InvalidArgument("sha256", str(chunk), "end the upload with the 64-hex sha256 of the bytes sent")
                    claimed.append(("sha256", str(chunk)))
                    continue
                if len(claimed) > bool(req.sha256):
                    raise InvalidArgument("sha256", claimed[-1][1], "send the sha256 message last, after every chunk")
                if len(chunk) > self.limits.max_chunk_bytes:
                    raise InvalidArgument("chunk", f"{len(chunk)} bytes", f"send chunks of at most {self.limits.max_chunk_bytes} bytes")
                got += len(chunk)
                if got > req.size:
                    raise InvalidArgument("header.size", req.size, f"more bytes arrived ({got}+): set size to the state file's exact length")
                check.feed(chunk)
                h.update(chunk)
                f.write(chunk)
        if got != req.size:
            raise InvalidArgument("header.size", req.size, f"only {got} bytes arrived: the upload was cut short; send the whole file")
        digest = h.hexdigest()
        for field_, sha in claimed:
            if sha != digest:
                raise InvalidArgument(field_, sha, f"the bytes received hash to {digest}: the upload was corrupted; send it again")
        return digest

    def _record(self, who: Principal, req: SaveRequest, world: WorldRecord, parent: SnapshotRecord | None,
                digest: str, info: StateInfo) -> SnapshotRecord:
        provenance = {"kind": "save", "by": who.name, "head": req.head}
        if req.labels:
            provenance["labels"] = dict(req.labels)
        return SnapshotRecord(
            id="",
            world=world.name,
            parents=(parent.id,) if parent else (),
            state=digest,
            state_size=req.size,
            frame_count=info.frame_count,
            player_count=info.player_count,
            generation=(parent.generation + 1) if parent else 1,
            created_at=self.clock(),
            provenance=provenance,
        ).sealed()

    def resolve(self, ref: str, who: Principal | None = None) -> SnapshotRecord:
        """A snapshot by id or unique prefix (>= 8 hex), ``world`` (its main head) or ``world@head``. With ``who``,
        only among the worlds ``who`` may read (the rest is NotFound, as if absent: multiverse.store.visibility); without,
        among all (for callers that checked already, as an admin's cross)."""
        if not isinstance(ref, str) or not ref:
            raise InvalidArgument("ref", ref, "name a snapshot id, a world or world@head")
        reader = reader_name(who) if who is not None else None
        if "@" not in ref and HEX_RE.match(ref):
            try:
                return self.meta.get_snapshot(ref, reader=reader)
            except NotFound:
                if len(ref) == 64:
                    if who is not None and not who.admin:
                        raise unseen_snapshot(who, ref) from None
                    raise
                try:
                    self.meta.get_world(ref) if who is None else self.readable_world(who, ref)
                except NotFound:
                    raise NotFound(f"no snapshot id starts with {ref!r} and no world is named so"
                                   + (f" that {who.name!r} may read" if who is not None else "")) from None
        world, _, head = ref.partition("@")
        check_name("ref", world)
        self.meta.get_world(world) if who is None else self.readable_world(who, world)
        current = self.meta.get_head(world, head or DEFAULT_HEAD)
        if current is None:
            raise NotFound(f"world {world!r} has no snapshot at head {head or DEFAULT_HEAD!r} yet: save one first")
        return self.meta.get_snapshot(current)

    def load(self, ref: str, chunk_size: int = CHUNK, who: Principal | None = None) -> Loaded:
        """The state of snapshot ``ref`` in chunks (``resolve(ref, who)``: ``who`` must be able to read it)."""
        if not 0 < chunk_size <= self.limits.max_chunk_bytes:
            raise InvalidArgument("chunk_size", chunk_size, f"use 1 to {self.limits.max_chunk_bytes} bytes (0 means 1 MiB)")
        record = self.resolve(ref, who)
        if record.pruned_at is not None:
            when = datetime.fromtimestamp(record.pruned_at, UTC).isoformat(timespec="seconds")
            raise FailedPrecondition(f"snapshot {record.id} was pruned at {when}: its state is no longer kept; load a "
                                     "later snapshot", snapshot=record.id, pruned_at=when)
        # Not verified here: the reply carries the manifest (or the sha256 of a state stored whole) and the client
        # checks the bytes end to end (transport included).
        manifest = self.chunks.manifest(record.state)
        return Loaded(record, record.state_size, self.blobs.open_chunks(record.state, chunk_size, verify=False),
                      manifest)

    def log(self, ref: str, *, limit: int = 100, cursor: str = "") -> tuple[list[SnapshotRecord], str]:
        return self.meta.log(self.resolve(ref).id, limit=_page(limit), cursor=cursor)

    def heads(self, world: str) -> dict[str, str]:
        self.meta.get_world(world)
        return self.meta.heads(world)

    # keys -------------------------------------------------------------------------------------------
    def create_api_key(self, who: Principal, principal: str, role: str = ROLE_SERVER) -> tuple[str, str]:
        """Admin only. Returns (key id, token); the token is shown once."""
        require_admin(who, "create API keys")
        check_name("principal", principal)
        if role not in (ROLE_SERVER, ROLE_ADMIN):
            raise InvalidArgument("role", role, f"use {ROLE_SERVER!r} or {ROLE_ADMIN!r}")
        record, token = mint_key(self.meta, principal, role, now=self.clock())
        return record.id, token


def require_admin(who: Principal, action: str) -> None:
    """PermissionDenied unless ``who`` holds an admin key. Services call it before decoding an admin request."""
    if not who.admin:
        raise PermissionDenied(f"only an admin key may {action}; {who.name!r} holds a {who.role} key")


def _same_save(req: SaveRequest, first: SnapshotRecord, digest: str) -> None:
    """A replayed idempotency key must name the same save: the same bytes to the same head. (The expected
    parent may differ: a client that re-reads the head before retrying a save that did land sees its own.)"""
    head = first.provenance.get("head", DEFAULT_HEAD)
    if first.state != digest or head != req.head:
        what = "other bytes" if first.state != digest else f"head {req.head!r}"
        raise AlreadyExists(
            f"idempotency key {req.idempotency_key!r} was used for snapshot {first.id} (state {first.state[:12]}, "
            f"head {head!r}) and now for {what}: a retry must resend the same state to the same head; use a new "
            "key for a new save", idempotency_key=req.idempotency_key, first_snapshot=first.id,
            first_state=first.state, first_head=head)


def _page(limit: int) -> int:
    if not 0 <= limit <= 1000:
        raise InvalidArgument("page_size", limit, "use 1 to 1000 (0 means 100)")
    return limit or 100
