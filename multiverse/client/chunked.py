"""The client's side of chunked saves and checked loads (docs/chunks.md).

A save cuts the state as the server will (``multiverse.chunks.cut``; against the world's last state, so that only
what changed is hashed: ``Cuts``), asks ``FindMissingChunks`` about the addresses this connection has not seen
confirmed (``Confirmed``: the last saves' and loads' manifests) when they hold more than ASK_OVER bytes (else it
sends them outright: one round trip fewer), and sends only the missing chunks: in one message with
``SaveChunksAtOnce`` when it holds at most ONE_MESSAGE bytes (a sliding window's few new frames), else streamed
with ``SaveChunks``. A server without the first (UNIMPLEMENTED) gets the stream; one without either, the whole file
by ``SaveSnapshot``; a chunk collected between the question and the save
(FAILED_PRECONDITION naming ``chunks[i]``) makes it ask again, once, about every chunk. ``SaveStats`` of the last
save say what went on the wire.

A load checks what it received: for a chunked state, sha256 of the manifest's encoding == the snapshot's state and
the BLAKE3 of every chunk == its address; for a state stored whole, the sha256 of the bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import grpc

from multiverse import errors
from multiverse.chunks.cut import Manifest, digests, recut
from multiverse.v1 import store_pb2

# Chunks the server is not known to hold are asked about first when they hold more than this; fewer (a sliding
# window's few new frames) are sent outright, which saves a round trip: the server keeps what it lacks.
ASK_OVER = 1 << 20
BATCH_BYTES = 2 << 20  # chunk bytes per message at most (the server takes messages of up to 4 MiB)
ONE_MESSAGE = 3 << 20  # bytes of a save sent as one message (SaveChunksAtOnce) at most: the server takes 4 MiB
REMEMBERED = 4  # manifests whose addresses count as confirmed (a sliding window shares all but a few with the last)
WORLDS_CUT = 4  # worlds whose last state is kept to cut the next against (``Cuts``)
CUT_BYTES = 256 << 20  # and at most this many bytes of them (the last one always)


@dataclass(frozen=True)
class SaveStats:
    """What one save put on the wire: ``mode`` "chunks" or "whole"; ``bytes_sent``: the serialized size of every
    request message of the save (header, manifest, chunks, questions); chunk counts; wall seconds; ``messages``:
    the request messages of the save's call (1: SaveChunksAtOnce; 0: not counted, a whole-file save)."""

    mode: str
    bytes_sent: int
    chunks: int = 0
    chunks_sent: int = 0
    asked: int = 0
    seconds: float = 0.0
    messages: int = 0


class Confirmed:
    """Addresses the server confirmed holding, from this connection's last REMEMBERED manifests."""

    def __init__(self) -> None:
        self._recent: deque[frozenset[str]] = deque(maxlen=REMEMBERED)
        self._all: frozenset[str] = frozenset()  # their union
        self._lock = threading.Lock()

    def unknown(self, addresses: tuple[str, ...]) -> dict[str, int]:
        """{address: its first index} of those of ``addresses`` not confirmed."""
        with self._lock:
            known = self._all
        out: dict[str, int] = {}
        for i, a in enumerate(addresses):
            if a not in known and a not in out:
                out[a] = i
        return out

    def add(self, addresses: tuple[str, ...]) -> None:
        with self._lock:
            self._recent.append(frozenset(addresses))
            self._all = frozenset().union(*self._recent)

    def forget(self) -> None:
        with self._lock:
            self._recent.clear()
            self._all = frozenset()


class Cuts:
    """The last state cut for each of the WORLDS_CUT worlds saved last (its bytes and manifest, CUT_BYTES at most),
    so that the next save of the world hashes only what changed (``multiverse.chunks.cut.recut``). Only immutable
    bytes are kept: a buffer the caller may change after the save would make the kept addresses lie."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, tuple[bytes, Manifest]] = OrderedDict()
        self._lock = threading.Lock()

    def cut(self, world: str, data: bytes | memoryview) -> tuple[Manifest, list[memoryview]]:
        with self._lock:
            before = self._last.get(world)
        manifest, pieces = recut(data, before)
        if isinstance(data, bytes):
            with self._lock:
                self._last[world] = (data, manifest)
                self._last.move_to_end(world)
                while len(self._last) > WORLDS_CUT or (len(self._last) > 1 and
                                                       sum(len(d) for d, _ in self._last.values()) > CUT_BYTES):
                    self._last.popitem(last=False)
        return manifest, pieces


class Saver:
    """One client's saves: chunked while the server speaks SaveChunks, else whole (see the module docstring)."""

    def __init__(self) -> None:
        self.confirmed = Confirmed()
        self.cuts = Cuts()
        self.chunked = True  # until the server answers UNIMPLEMENTED
        self.once = OneMessage()
        self.last: SaveStats | None = None

    @contextlib.contextmanager
    def whole(self) -> Iterator[None]:
        """Saves inside send the whole file (SaveSnapshot)."""
        before, self.chunked = self.chunked, False
        try:
            yield
        finally:
            self.chunked = before

    def save(self, stubs: tuple[Any, Any], call: dict[str, Any], header: store_pb2.SaveHeader, state: bytes | Path,
             progress: Callable[[int, int], None] | None,
             upload: Callable[[], Iterator[store_pb2.SaveSnapshotRequest]]) -> store_pb2.SaveSnapshotResponse:
        """One try of a save: chunked, or ``upload()``'s whole-file messages by SaveSnapshot where the server does
        not speak SaveChunks (older servers) or the state does not cut (the server then says what is wrong).
        ``stubs``: (the one questions go by, the one the save goes by). Raises grpc.RpcError as the calls do."""
        ask, stub = stubs
        if self.chunked:
            data = state if isinstance(state, bytes) else Path(state).read_bytes()
            try:
                response, self.last = save_chunks((ask, stub), header, data, self.confirmed, call, self.cuts, self.once)
            except errors.MultiverseError:
                pass  # not a state file the cut can read: the whole-file save gets the server's clear error
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self.chunked = False
            else:
                if progress:
                    progress(header.size, header.size)
                return response
        started = time.perf_counter()
        messages = Counted(upload())
        response = stub.SaveSnapshot(messages, **call)
        self.last = SaveStats("whole", messages.bytes, seconds=time.perf_counter() - started)
        return response


def manifest_pb(m: Manifest) -> store_pb2.ChunkManifest:
    return store_pb2.ChunkManifest(size=m.size, addresses=digests(m.addresses),
                                   lengths=m.lengths)


def save_chunks(stubs: tuple[Any, Any], header: store_pb2.SaveHeader, data: bytes | memoryview,
                confirmed: Confirmed, call: dict[str, Any], cuts: Cuts | None = None,
                once: OneMessage | None = None) -> tuple[store_pb2.SaveSnapshotResponse, SaveStats]:
    """A chunked save of the whole state file ``data``; raises grpc.RpcError as the calls do (the caller maps
    them, and falls back to SaveSnapshot on UNIMPLEMENTED). ``stubs``: (questions', the save's); ``call``: metadata
    and timeout of every call; ``cuts``: the world's last states, to cut against; ``once``: whether the server
    takes a save in one message (None: never sent so)."""
    ask, stub = stubs
    started = time.perf_counter()
    manifest, pieces = (cuts or Cuts()).cut(header.world, data)
    sent = 0
    for attempt in range(2):
        unknown = confirmed.unknown(manifest.addresses)
        missing: list[int] = list(unknown.values())
        asked = 0
        if sum(manifest.lengths[i] for i in missing) > ASK_OVER:  # else sent outright: a round trip saved
            asked = len(unknown)
            question = store_pb2.FindMissingChunksRequest(addresses=digests(list(unknown)))
            sent += question.ByteSize()
            reply = ask.FindMissingChunks(question, **call)
            order = list(unknown.values())
            missing = [order[j] for j in reply.missing]
        try:
            response, n, count = _send(stub, header, manifest, pieces, missing, call, once)
            sent += n
        except grpc.RpcError as exc:
            if attempt == 0 and exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "chunks[" in (exc.details() or ""):
                confirmed.forget()  # a chunk went (collected): ask about every one again
                continue
            raise
        confirmed.add(manifest.addresses)
        stats = SaveStats("chunks", sent, len(manifest.addresses), len(missing), asked, time.perf_counter() - started,
                          count)
        return response, stats
    raise AssertionError("unreachable")  # the second attempt returns or raises


class OneMessage:
    """Whether the server takes a save in one message (SaveChunksAtOnce): until it answers UNIMPLEMENTED (older)."""

    def __init__(self) -> None:
        self.spoken = True


def _send(stub: Any, header: store_pb2.SaveHeader, manifest: Manifest, pieces: list[memoryview], missing: list[int],
          call: dict[str, Any], once: OneMessage | None) -> tuple[store_pb2.SaveSnapshotResponse, int, int]:
    """The save's call: its reply, the bytes and the number of its request messages: one message (SaveChunksAtOnce)
    when the chunks fit ONE_MESSAGE bytes and the server takes it, else the stream (SaveChunks)."""
    if once is not None and once.spoken and sum(len(pieces[i]) for i in missing) <= ONE_MESSAGE:
        request = store_pb2.SaveChunksAtOnceRequest(
            header=header, manifest=manifest_pb(manifest),
            chunks=[store_pb2.SaveChunk(index=i, data=bytes(pieces[i])) for i in missing])
        size = request.ByteSize()
        if size <= ONE_MESSAGE:  # else a manifest of very many chunks: streamed
            try:
                return stub.SaveChunksAtOnce(request, **call), size, 1
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                once.spoken = False
    messages = _messages(header, manifest, pieces, missing)
    return stub.SaveChunks(iter(messages), **call), sum(m.ByteSize() for m in messages), len(messages)


def _messages(header: store_pb2.SaveHeader, manifest: Manifest, pieces: list[memoryview],
              missing: list[int]) -> list[store_pb2.SaveChunksRequest]:
    """The header, the manifest, then the missing chunks in batches of up to BATCH_BYTES (a message each costs the
    server more than its bytes: 57 fresh 18 KiB frames go in one message, not 57)."""
    out = [store_pb2.SaveChunksRequest(header=header), store_pb2.SaveChunksRequest(manifest=manifest_pb(manifest))]
    batch: list[store_pb2.SaveChunk] = []
    held = 0
    for i in missing:
        if batch and held + len(pieces[i]) > BATCH_BYTES:
            out.append(store_pb2.SaveChunksRequest(batch=store_pb2.SaveChunkBatch(chunks=batch)))
            batch, held = [], 0
        batch.append(store_pb2.SaveChunk(index=i, data=bytes(pieces[i])))
        held += len(pieces[i])
    if batch:
        out.append(store_pb2.SaveChunksRequest(batch=store_pb2.SaveChunkBatch(chunks=batch)))
    return out


class LoadCheck:
    """Checks a download as it arrives against its LoadHeader (see the module docstring)."""

    def __init__(self, header: store_pb2.LoadHeader) -> None:
        self.size = header.size
        self.manifest: Manifest | None = None
        if header.HasField("manifest"):
            m = header.manifest
            try:
                self.manifest = Manifest.from_wire((m.size, m.addresses, m.lengths), size=None)
            except errors.InvalidArgument as exc:
                raise errors.Corrupt(f"the server sent a manifest that does not parse: {exc.message}") from None
            if self.manifest.state_id != header.snapshot.state_sha256:
                raise errors.Corrupt(f"the manifest sent hashes to {self.manifest.state_id}, not to the snapshot's "
                                     f"state {header.snapshot.state_sha256}: try again")
            if self.manifest.size != header.size:
                raise errors.Corrupt(f"the manifest's size {self.manifest.size} differs from the header's {header.size}")
            self._index, self._h, self._left = 0, blake3.blake3(), self.manifest.lengths[0]
        else:
            self._sha, self._expect = hashlib.sha256(), header.sha256

    def feed(self, chunk: bytes) -> None:
        if self.manifest is None:
            self._sha.update(chunk)
            return
        view = memoryview(chunk)
        m = self.manifest
        while view:
            if self._index >= len(m.lengths):
                raise errors.Corrupt(f"the server sent more than the manifest's {m.size} bytes: try again")
            take = min(self._left, len(view))
            self._h.update(view[:take])
            view, self._left = view[take:], self._left - take
            if self._left == 0:
                if self._h.hexdigest() != m.addresses[self._index]:
                    raise errors.Corrupt(f"chunk {self._index} of the state arrived damaged (BLAKE3 "
                                         f"{self._h.hexdigest()}, manifest {m.addresses[self._index]}): try again")
                self._index += 1
                self._h = blake3.blake3()
                self._left = m.lengths[self._index] if self._index < len(m.lengths) else 0

    def finish(self, done: int) -> None:
        if self.manifest is None:
            if done != self.size or self._sha.hexdigest() != self._expect:
                raise errors.Corrupt(f"downloaded {done} of {self.size} bytes hashing to {self._sha.hexdigest()}, "
                                     f"expected {self._expect}: try again")
        elif done != self.size or self._index != len(self.manifest.lengths):
            raise errors.Corrupt(f"downloaded {done} of {self.size} bytes ({self._index} of "
                                 f"{len(self.manifest.lengths)} chunks): try again")


class Counted:
    """An iterator of request messages that adds up their serialized sizes in ``bytes``."""

    def __init__(self, messages: Iterator[Any]) -> None:
        self._messages, self.bytes = messages, 0

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> Any:
        message = next(self._messages)
        self.bytes += message.ByteSize()
        return message
