"""Python client for game servers and admins, over gRPC. The CLI is built on it.

    from multiverse.client import Client
    with Client("localhost:50051", key) as mv:
        snap = mv.save_snapshot("my-world", state_bytes)      # compare-and-swap on the current head
        data = mv.load_snapshot("my-world@main")

Errors come back as the domain's error classes (``multiverse.errors``), with the server's message and
details; a lost compare-and-swap raises ``HeadMoved`` whose ``current`` is the head to rebase onto.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import grpc

from multiverse import errors
from multiverse.client.admin import AdminCalls  # the Admin service's methods (delete world, prune, collect)
from multiverse.client.chunked import LoadCheck, Saver, SaveStats
from multiverse.client.market import (
    MarketCalls,  # the Market service's methods (wallet sign-in, claims, listings)
)
from multiverse.client.connect import open_channel
from multiverse.client.rpc_errors import from_rpc_error
from multiverse.tlsconfig import ClientTls
from multiverse.v1 import (
    common_pb2,
    market_pb2_grpc,
    multiverse_pb2,
    multiverse_pb2_grpc,
    rarity_pb2,
    rarity_pb2_grpc,
    store_pb2,
    store_pb2_grpc,
)

CHUNK = 1 << 20
AUTO = object()  # expected_parent=AUTO: read the head first, then compare-and-swap against it
Progress = Callable[[int, int], None]  # (bytes done, bytes total)

class Client(MarketCalls, AdminCalls):
    def __init__(self, target: str, key: str | None = None, *, timeout: float | None = None,
                 tls: ClientTls | None = None) -> None:
        """A client of the service at ``target`` (host:port, or replicas as host1:port1,host2:port2: balanced
        round-robin over the healthy ones, see multiverse/client/connect.py) with API key or wallet session
        ``key``; ``tls``: connect over TLS, trusting ``tls.ca`` (the system's roots when empty), presenting
        ``tls.cert`` for mutual TLS."""
        self.target, self.timeout = target, timeout
        options = [("grpc.max_receive_message_length", 4 << 20), ("grpc.max_send_message_length", 4 << 20)]
        self._channel, self.replicas = open_channel(target, tls, options)
        self._stub = store_pb2_grpc.StoreStub(self._channel)
        # over replicas saves get a channel of their own: round-robin then spreads saves, not a save's calls (a chunk
        # question and the save alternating over two replicas put every save on one)
        self._save_channel = open_channel(target, tls, options)[0] if self.replicas > 1 else self._channel
        self._saves = store_pb2_grpc.StoreStub(self._save_channel) if self.replicas > 1 else self._stub
        self._multiverse = multiverse_pb2_grpc.MultiverseStub(self._channel)
        self._rarity = rarity_pb2_grpc.RarityStub(self._channel)
        self._market = market_pb2_grpc.MarketStub(self._channel)
        self._metadata = (("authorization", f"Bearer {key}"),) if key else ()

    def close(self) -> None:
        for channel in {self._channel, self._save_channel}:
            channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, request: Any) -> Any:
        return self._call_on(self._stub, method, request)

    # admin and lookups -----------------------------------------------------------------------------
    def whoami(self) -> store_pb2.WhoAmIResponse:
        return self._call("WhoAmI", store_pb2.WhoAmIRequest())

    def register_space(self, name: str, frame_shape: tuple[int, ...], dtype: str, player_dim: int, **extra: Any) -> common_pb2.LatentSpace:
        space = common_pb2.LatentSpace(name=name, frame_shape=list(frame_shape), dtype=dtype, player_dim=player_dim, **extra)
        return self._call("RegisterSpace", store_pb2.RegisterSpaceRequest(space=space))

    def get_space(self, name: str) -> common_pb2.LatentSpace:
        return self._call("GetSpace", store_pb2.GetSpaceRequest(name=name))

    def create_world(self, name: str, space: str, *, owner: str = "", description: str = "", visibility: str = "",
                     readers: list[str] | tuple[str, ...] = ()) -> common_pb2.World:
        """A new world; ``visibility`` "private" (the default), "shared" with ``readers``, or "public"."""
        return self._call("CreateWorld", store_pb2.CreateWorldRequest(
            name=name, space=space, owner=owner, description=description, visibility=visibility, readers=list(readers)))

    def get_world(self, name: str) -> common_pb2.World:
        return self._call("GetWorld", store_pb2.GetWorldRequest(name=name))

    def set_world_visibility(self, world: str, visibility: str, readers: list[str] | tuple[str, ...] = ()) -> common_pb2.World:
        """Who may read ``world`` besides its owner and admins (owner or admin only); ``readers`` replaces the share
        list of a "shared" world."""
        return self._call("SetWorldVisibility", store_pb2.SetWorldVisibilityRequest(
            world=world, visibility=visibility, readers=list(readers)))

    def list_worlds(self, *, space: str = "", owner: str = "", page_size: int = 100) -> Iterator[common_pb2.World]:
        """Every world this key may read (optionally of one space and one owner), by name, page by page."""
        token = ""
        while True:
            page = self._call("ListWorlds", store_pb2.ListWorldsRequest(space=space, owner=owner, page_size=page_size,
                                                                        page_token=token))
            yield from page.worlds
            token = page.next_page_token
            if not token:
                return

    def heads(self, world: str) -> dict[str, str]:
        return dict(self._call("Heads", store_pb2.HeadsRequest(world=world)).heads)

    def create_api_key(self, principal: str, role: str = "server") -> store_pb2.CreateApiKeyResponse:
        return self._call("CreateApiKey", store_pb2.CreateApiKeyRequest(principal=principal, role=role))

    def get_snapshot(self, ref: str) -> common_pb2.Snapshot:
        return self._call("GetSnapshot", store_pb2.GetSnapshotRequest(ref=ref))

    def log(self, ref: str, *, page_size: int = 100) -> Iterator[common_pb2.Snapshot]:
        """Every ancestor of ``ref``, newest first, fetched page by page."""
        token = ""
        while True:
            page = self._call("Log", store_pb2.LogRequest(ref=ref, page_size=page_size, page_token=token))
            yield from page.snapshots
            token = page.next_page_token
            if not token:
                return

    # crossing worlds ---------------------------------------------------------------------------------
    def cross(self, parents: list[str], *, name: str, op: str = "", params: dict[str, Any] | None = None,
              pipeline: dict[str, Any] | None = None, seed: int = 0, align: str = "", frames: int = 0,
              player_policy: str = "", base: str = "", owner: str = "", description: str = "",
              progress: Callable[[str, float], None] | None = None) -> multiverse_pb2.CrossResult:
        """Spawn world ``name`` from ``parents`` (ids, worlds or world@head); returns the result (world, snapshot,
        statistics, created). ``progress(stage, fraction)`` sees the server's progress events."""
        request = _cross_request(parents, name=name, op=op, params=params, pipeline=pipeline, seed=seed, align=align,
                                 frames=frames, player_policy=player_policy, base=base, owner=owner, description=description)
        try:
            for event in self._multiverse.CrossWorlds(request, metadata=self._metadata, timeout=self.timeout):
                if event.WhichOneof("event") == "result":
                    return event.result
                if progress:
                    progress(event.progress.stage, event.progress.fraction)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        raise errors.Unavailable("the cross stream ended without a result: try again (the recipe makes it idempotent)")

    def preview_cross(self, parents: list[str], **kw: Any) -> multiverse_pb2.CrossPreview:
        return self._call_on(self._multiverse, "PreviewCross", _cross_request(parents, **kw))

    def list_operators(self) -> list[multiverse_pb2.OperatorInfo]:
        return list(self._call_on(self._multiverse, "ListOperators", multiverse_pb2.ListOperatorsRequest()).operators)

    # rarity ------------------------------------------------------------------------------------------
    def score_vectors(self, space: str, vectors: Any, *, kind: str = "frame") -> list[rarity_pb2.RarityScore]:
        """Rarity of ad hoc vectors (a numpy array (n, values...)) against ``space``; nothing is stored."""
        request = rarity_pb2.ScoreRequest(space=space, kind=kind, vectors=_vectors_pb(vectors))
        return list(self._call_on(self._rarity, "Score", request).scores)

    def top_rare(self, space: str = "", *, kind: str = "frame", tier: str = "", world: str = "", limit: int = 50,
                 page_token: str = "") -> rarity_pb2.TopRareResponse:
        """One page of the rarest stored vectors (``next_page_token`` continues)."""
        request = rarity_pb2.TopRareRequest(space=space, kind=kind, tier=tier, world=world, page_size=limit,
                                            page_token=page_token)
        return self._call_on(self._rarity, "TopRare", request)

    def rarity_of(self, snapshot: str, kind: str = "frame", index: int = 0, *,
                  brief: bool = False) -> rarity_pb2.RarityScore:
        """The score of a stored vector with its percentile's interval and its explanation (its neighbours and the
        values and cells where it differs most; ``brief`` leaves that out)."""
        ref = rarity_pb2.VectorRef(snapshot=snapshot, kind=kind, index=index)
        return self._call_on(self._rarity, "RarityOf", rarity_pb2.RarityOfRequest(id=ref, brief=brief))

    def neighbors(self, snapshot: str = "", kind: str = "frame", index: int = 0, *, vector: Any = None,
                  space: str = "", k: int = 0, world: str = "") -> list[rarity_pb2.Neighbor]:
        """Nearest stored vectors to a stored one (snapshot, kind, index) or to ``vector`` (then ``space``)."""
        request = rarity_pb2.NeighborsRequest(space=space, kind=kind, k=k, world=world)
        if vector is not None:
            request.vector.CopyFrom(_vectors_pb(vector))
        else:
            request.id.CopyFrom(rarity_pb2.VectorRef(snapshot=snapshot, kind=kind, index=index))
        return list(self._call_on(self._rarity, "Neighbors", request).neighbors)

    def rarity_stats(self, space: str = "") -> rarity_pb2.StatsResponse:
        return self._call_on(self._rarity, "Stats", rarity_pb2.StatsRequest(space=space))

    def watch_rare(self, space: str = "", *, kind: str = "", tier: str = "") -> Iterator[rarity_pb2.RarityScore]:
        """Newly scored vectors at or above ``tier`` (default rare) until the iterator is closed."""
        request = rarity_pb2.WatchRareRequest(space=space, kind=kind, tier=tier)
        call = self._rarity.WatchRare(request, metadata=self._metadata, timeout=self.timeout)
        try:
            yield from call
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    def _call_on(self, stub: Any, method: str, request: Any, *, metadata: Any = None) -> Any:
        """One unary call with the API key (or ``metadata``); a failure becomes the domain's error class."""
        try:
            return getattr(stub, method)(request, metadata=self._metadata if metadata is None else metadata,
                                         timeout=self.timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    # snapshots ---------------------------------------------------------------------------------------
    def save_snapshot(
        self,
        world: str,
        state: bytes | Path,
        *,
        expected_parent: Any = AUTO,
        head: str = "main",
        idempotency_key: str | None = None,
        labels: dict[str, str] | None = None,
        progress: Progress | None = None,
        retries: int = 2,
        busy_wait_s: float = 30.0,
    ) -> store_pb2.SaveSnapshotResponse:
        """Upload a state file (bytes or a path) and move ``world@head`` to it by compare-and-swap.

        ``expected_parent``: AUTO saves onto the head (this client's last save's, else read; one moved by another
        writer is taken from the refusal, once); "" means the world's first save; an id pins it.
        UNAVAILABLE is retried ``retries`` times (at least once per other replica when the client has several,
        each try going to the next healthy one), and RESOURCE_EXHAUSTED (the server's stream limits are full,
        e.g. more parallel uploads on one key than it allows) for up to ``busy_wait_s``, with growing pauses and
        the same idempotency key and bytes, so a save that did land is not stored twice."""
        remembered = self.__dict__.setdefault("_heads_saved", {})  # {(world, head): the snapshot this client saved}
        if cached := (expected_parent is AUTO and (world, head) in remembered):
            expected_parent = remembered[(world, head)]
        elif expected_parent is AUTO:
            expected_parent = self.heads(world).get(head, "")
        size = len(state) if isinstance(state, bytes) else os.path.getsize(state)
        header = store_pb2.SaveHeader(world=world, head=head, expected_parent=expected_parent,
                                      idempotency_key=idempotency_key or uuid.uuid4().hex, size=size,
                                      labels=labels or {})
        failed, busy_until, pause = 0, time.monotonic() + busy_wait_s, 0.05
        retries = max(retries, self.replicas - 1)  # once per other replica at least
        while True:
            try:
                reply = self._save_once(header, state, size, progress)
                remembered[(world, head)] = reply.snapshot.id
                return reply
            except grpc.RpcError as exc:
                code = exc.code()
                if cached and isinstance(moved := from_rpc_error(exc), errors.HeadMoved):  # another writer saved
                    header.expected_parent, cached = moved.current or "", False  # since: onto its head, once
                    continue
                if code == grpc.StatusCode.UNAVAILABLE and failed < retries:
                    failed += 1
                elif not (code == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() + pause < busy_until):
                    raise from_rpc_error(exc) from None
                time.sleep(pause * (0.5 + random.random()))  # jittered, so waiting uploads do not retry in step
                pause = min(pause * 2, 1.0)

    @property
    def last_save(self) -> SaveStats | None:
        """What the last save on this client put on the wire (multiverse.client.chunked.SaveStats)."""
        return self._saver().last

    def _saver(self) -> Saver:
        """This connection's chunked saves (the addresses the server confirmed), created on first use."""
        found = getattr(self, "_chunked_saver", None)
        if found is None:
            found = self._chunked_saver = Saver()
        return found

    def _save_once(self, header: store_pb2.SaveHeader, state: bytes | Path, size: int,
                   progress: Progress | None) -> store_pb2.SaveSnapshotResponse:
        call = {"metadata": self._metadata, "timeout": self.timeout}
        return self._saver().save((self._stub, self._saves), call, header, state, progress,
                                  lambda: _upload(header, state, size, progress))

    def save_whole(self, world: str, state: bytes, **kw: Any) -> store_pb2.SaveSnapshotResponse:
        """``save_snapshot`` sending the whole file by SaveSnapshot, as to an older server (for comparisons)."""
        with self._saver().whole():
            return self.save_snapshot(world, state, **kw)

    def load_snapshot(self, ref: str, dest: Path | None = None, *, progress: Progress | None = None) -> tuple[common_pb2.Snapshot, bytes | None]:
        """Download a state file, checking it as it arrives: a chunked state against its manifest (whose sha256
        is the snapshot's state) chunk by chunk, one stored whole against its sha256. With ``dest`` the bytes go
        to that file (written beside it, then renamed) and None is returned in place of them."""
        stream = self._stub.LoadSnapshot(store_pb2.LoadSnapshotRequest(ref=ref), metadata=self._metadata, timeout=self.timeout)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part") if dest else None
        try:
            header = next(stream).header
            check = LoadCheck(header)
            done, parts = 0, []
            with open(tmp, "wb") if tmp else contextlib.nullcontext() as out, \
                    _Hasher(check.feed, out.write if tmp else None) as h:
                for message in stream:
                    h.feed(message.chunk)
                    if not tmp:
                        parts.append(message.chunk)
                    done += len(message.chunk)
                    if progress:
                        progress(done, header.size)
            check.finish(done)
            if check.manifest is not None:
                self._saver().confirmed.add(check.manifest.addresses)  # a resumed world's next save shares them
            if tmp:
                os.replace(tmp, dest)
            return header.snapshot, None if dest else b"".join(parts)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        finally:
            if tmp:
                tmp.unlink(missing_ok=True)


class _Hasher:
    """The check (``LoadCheck.feed``: hashing) and an optional file write of a download on a second thread, so
    hashing overlaps receiving: hashlib, blake3 and file writes release the GIL on large buffers. ``feed`` blocks
    when 8 chunks are pending."""

    def __init__(self, check: Callable[[bytes], Any], write: Callable[[bytes], Any] | None = None) -> None:
        self._check, self._write = check, write
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="download-hash", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._check(chunk)
                    if self._write:
                        self._write(chunk)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = exc

    def feed(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)


def _cross_request(parents: list[str], *, name: str = "", op: str = "", params: dict[str, Any] | None = None,
                   pipeline: dict[str, Any] | None = None, **fields: Any) -> multiverse_pb2.CrossRequest:
    return multiverse_pb2.CrossRequest(parents=list(parents), name=name, op=op,
                                       params_json=json.dumps(params) if params else "",
                                       pipeline_json=json.dumps(pipeline) if pipeline else "", **fields)


def _upload(header: store_pb2.SaveHeader, state: bytes | Path, size: int, progress: Progress | None) -> Iterator[store_pb2.SaveSnapshotRequest]:
    """Header, chunks, then the sha256 of the chunks (hashed on the way out, so the bytes are read once)."""
    yield store_pb2.SaveSnapshotRequest(header=header)
    h, done = hashlib.sha256(), 0
    if isinstance(state, bytes):
        view = memoryview(state)
        chunks: Iterator[bytes] = (view[i : i + CHUNK] for i in range(0, size, CHUNK))
    else:
        chunks = _file_chunks(state)
    for chunk in chunks:
        h.update(chunk)
        done += len(chunk)
        yield store_pb2.SaveSnapshotRequest(chunk=bytes(chunk))
        if progress:
            progress(done, size)
    yield store_pb2.SaveSnapshotRequest(sha256=h.hexdigest())


def _vectors_pb(vectors: Any) -> rarity_pb2.Vectors:
    """A numpy array (n, values...) as little-endian bytes with its shape and dtype name."""
    import numpy as np

    x = np.asarray(vectors)
    x = x[None] if x.ndim == 1 else x
    name = {"f": "float", "i": "int", "u": "uint"}.get(x.dtype.kind, "?") + str(8 * x.dtype.itemsize)
    return rarity_pb2.Vectors(shape=list(x.shape), dtype=name, data=x.astype(x.dtype.newbyteorder("<")).tobytes())


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
