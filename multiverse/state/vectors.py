"""Content ids of single vectors: a frame latent's or a player vector's canonical bytes and their sha256, the
vector's id wherever it is held (the market mints it as the token id). Pure, except for the hashing threads.

Canonical bytes of a vector (a frame ``[*frame_shape]`` or a player vector ``[player_dim]``):

    8-byte little-endian header length | header JSON {"dtype": <safetensors code>, "shape": [...]}
    (sorted keys, no spaces) | raw little-endian row-major values

so a buyer who downloads the matrix checks ``sha256(bytes) == token id`` and knows dtype and shape.

``state_vectors`` hashes every vector of a stored state file straight from its bytes (a row of a safetensors
tensor is a contiguous slice, and its canonical header is the same for every row of the tensor), on two threads
(sha256 releases the GIL). The store records each commit's vectors with it: the first committed snapshot that
holds a vector is its discoverer (multiverse.metadata ``vector_discoveries``).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from multiverse.errors import Corrupt
from multiverse.state.format import frame_json, stored_header

Buffer = bytes | bytearray | memoryview | mmap.mmap

KINDS = {"frames": "frame", "players": "player"}  # safetensors name -> vector kind
THREADS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class HeldVector(NamedTuple):
    """Row ``index`` of kind ``kind`` of a state holds the vector whose canonical bytes hash to ``digest``."""

    digest: str  # sha256 hex: the vector's id (token id)
    kind: str  # "frame" | "player"
    index: int


def canonical_header(dtype_code: str, shape: tuple[int, ...]) -> bytes:
    """The canonical bytes of a vector up to its values: length prefix and header JSON."""
    return frame_json({"dtype": dtype_code, "shape": list(shape)}, pad=False)


def canonical_bytes(dtype_code: str, shape: tuple[int, ...], raw: bytes) -> bytes:
    """The canonical bytes of a vector with safetensors dtype ``dtype_code``, ``shape`` and raw LE values."""
    return canonical_header(dtype_code, shape) + raw


def state_vectors(state: Buffer | Sequence[Buffer]) -> list[HeldVector]:
    """Every distinct vector of a stored (validated) state file, each at its first row: frames, then players.
    ``state``: the file's bytes, or its pieces as ``format.encode_state_parts`` gives them (no joined copy)."""
    return start(state)()


def start(state: Buffer | Sequence[Buffer]) -> Callable[[], list[HeldVector]]:
    """``state_vectors`` begun on the hashing threads: returns what waits for its result. The caller keeps
    ``state`` unchanged until then."""
    pieces = [memoryview(p) for p in state] if isinstance(state, list | tuple) else [memoryview(state)]
    started = _start([p.cast("B") for p in pieces])
    return lambda: _gather(started)


def hash_file(path: Path) -> Callable[[], list[HeldVector]]:
    """``start`` on the state file at ``path``, which may be moved or removed once this returns: it stays mapped
    until the last view of it is dropped (never closed here, since a hashing thread may still read it)."""
    with open(path, "rb") as f:
        if not os.fstat(f.fileno()).st_size:
            raise Corrupt(f"state file {path} is empty", field="state")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return start(mapped)


class _Job(NamedTuple):
    view: memoryview  # the tensor's values
    prefix: bytes  # the canonical header of one row
    row: int  # bytes per row
    start: int  # first row
    stop: int  # row after the last
    kind: str


def _jobs(pieces: list[memoryview]) -> list[_Job]:
    """Row ranges of the frames and players tensors of the state file made of ``pieces`` (one buffer, or the
    header, frames and players pieces of ``format.encode_state_parts``), split in THREADS pieces each."""
    header = stored_header(pieces[0], sum(len(p) for p in pieces))
    jobs = []
    for name, kind in KINDS.items():  # frames first: a vector held by both is found as a frame
        t = header.tensor(name)
        count, row = t.rows, t.row_bytes
        values = _slice(pieces, header.data_start + t.begin, header.data_start + t.end)
        if values is None:
            raise Corrupt(f"a stored state's {t.name} tensor is not in one piece of its bytes", field=f"state.{t.name}")
        prefix = canonical_header(t.dtype.code, t.shape[1:])
        step = -(-count // THREADS) if count else 1
        jobs += [_Job(values, prefix, row, s, min(s + step, count), kind) for s in range(0, count, step)]
    return jobs


def _slice(pieces: list[memoryview], lo: int, hi: int) -> memoryview | None:
    """Bytes [lo, hi) of the file made of ``pieces``, when one piece holds them all (None otherwise)."""
    at = 0
    for piece in pieces:
        if at <= lo and hi <= at + len(piece) and lo <= hi:
            return piece[lo - at : hi - at]
        at += len(piece)
    return None


def _start(pieces: list[memoryview]) -> list[tuple[_Job, Future[list[str]]]]:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="vectorids")
        return [(job, _pool.submit(_hash_rows, job)) for job in _jobs(pieces)]


def _hash_rows(job: _Job) -> list[str]:
    base = hashlib.sha256(job.prefix)
    out = []
    for i in range(job.start, job.stop):
        h = base.copy()
        h.update(job.view[i * job.row : (i + 1) * job.row])
        out.append(h.hexdigest())
    return out


def _gather(started: list[tuple[_Job, Future[list[str]]]]) -> list[HeldVector]:
    first: dict[str, HeldVector] = {}
    for job, future in started:
        for i, digest in enumerate(future.result(), start=job.start):
            first.setdefault(digest, HeldVector(digest, job.kind, i))
    return list(first.values())
