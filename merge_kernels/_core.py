"""Shared machinery of the kernels: input checks, dtypes, chunking and the scratch workspace.

Conventions used by every kernel:
    parents   K tensors of identical shape [T, *frame], dtype and device (contiguous)
    base      an optional tensor of the same shape, dtype and device
    out       a preallocated tensor like parents[0]; kernels write it chunk by chunk
    chunk     a range of frames [t0, t1) (frame-wise kernels) or of flat elements [e0, e1)
              (elementwise kernels); chunk size never changes the result
Floating inputs are computed in float32 (float64 stays float64) and written back in the input
dtype. Scratch buffers come from one :class:`Workspace` per call, sized to one chunk, so peak
extra memory is a small multiple of a chunk (on the CPU they are reused from call to call, up to
POOL_BYTES for the process).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from .errors import DtypeError, ParameterError, ShapeError
from .rng import Key

#: Elements per chunk when the caller does not choose: 2**18 float32 = 1 MiB per buffer, so the
#: few buffers a kernel touches stay in the L2 cache of a core.
DEFAULT_CHUNK_ELEMS = 1 << 18
#: On a GPU the cost of a chunk is its kernel launches (tens of microseconds for a dozen), not cache
#: misses: 2**24 float32 = 64 MiB per buffer keeps launches under a few percent of the time at HBM speed.
CUDA_CHUNK_ELEMS = 1 << 24

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INT_VIEW = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float16 / bfloat16 / float32 accumulate in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def int_view_dtype(dtype: torch.dtype) -> torch.dtype:
    """The signed integer dtype of the same width (for bitwise selection of any dtype)."""
    return _INT_VIEW[torch.empty((), dtype=dtype).element_size()]


@dataclass(frozen=True)
class Layout:
    """Shape facts of the parents: T frames of frame_shape (F elements each)."""

    shape: tuple
    T: int
    frame_shape: tuple
    F: int
    numel: int
    cuda: bool = False

    @staticmethod
    def of(t: torch.Tensor) -> Layout:
        shape = tuple(t.shape)
        frame = shape[1:]
        F = 1
        for s in frame:
            F *= s
        return Layout(shape, shape[0], frame, F, t.numel(), t.is_cuda)


#: Bytes of CPU scratch kept between calls (see Workspace), for the whole process. Fresh pages
#: cost about 0.3 ms per MiB in page faults here, as much as several passes over the data, so
#: reusing scratch saves ~1-15 ms per call (15 for a sampled TIES threshold: ~45 MiB of scratch).
POOL_BYTES = 96 << 20
_FREE: list = []  # byte buffers not lent to any workspace
_LOCK = threading.Lock()
_IOTA: dict = {}  # (device, mult) -> read-only int32 arange * mult, shared


def _pool() -> list:
    return _FREE


class Workspace:
    """Scratch buffers reused across chunks: ``buf(name, n, dtype)`` is a 1-D view of n elements.

    On the CPU the buffers are borrowed from a process-wide pool and given back when the
    workspace is dropped (at the end of the kernel call), so repeated calls reuse warm pages
    instead of faulting in fresh ones; the pool keeps at most POOL_BYTES. A buffer is lent to one
    workspace at a time (nested or concurrent workspaces never share one), and never escapes its
    kernel call. On CUDA torch's caching allocator already reuses memory: plain allocations.
    """

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self._pooled = self.device.type == "cpu"
        self._bufs: dict = {}
        self._iotas: dict = {}
        self._ones: dict = {}

    def _alloc(self, n: int, dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(the pooled byte buffer or None, a 1-D ``dtype`` view of n elements at its start)."""
        if not self._pooled:
            return None, torch.empty(n, dtype=dtype, device=self.device)
        nbytes = n * torch.empty((), dtype=dtype).element_size()
        with _LOCK:
            fits = [i for i, b in enumerate(_FREE) if b.numel() >= nbytes]
            raw = _FREE.pop(min(fits, key=lambda j: _FREE[j].numel())) if fits else None
        if raw is None:
            raw = torch.empty(nbytes, dtype=torch.uint8)
        return raw, raw[:nbytes].view(dtype)

    def release(self) -> None:
        """Give the buffers back to the pool (called when the workspace is dropped); the pool
        then keeps the largest buffers that fit in POOL_BYTES."""
        if not self._pooled or not self._bufs:
            return
        with _LOCK:
            _FREE.extend(raw for raw, _ in self._bufs.values())
            total = 0
            keep = []
            for b in sorted(_FREE, key=lambda t: -t.numel()):
                if total + b.numel() <= POOL_BYTES:
                    keep.append(b)
                    total += b.numel()
            _FREE[:] = keep
        self._bufs = {}

    def __del__(self):
        with contextlib.suppress(AttributeError, TypeError):  # at interpreter shutdown the pool may be gone
            self.release()

    def buf(self, name: str, n: int, dtype: torch.dtype) -> torch.Tensor:
        entry = self._bufs.get((name, dtype))
        if entry is None or entry[1].numel() < n:
            if entry is not None and entry[0] is not None:
                with _LOCK:
                    _FREE.append(entry[0])
            entry = self._alloc(max(n, 1), dtype)
            self._bufs[(name, dtype)] = entry
        return entry[1][:n]

    def iota(self, n: int, mult: int = 1) -> torch.Tensor:
        """int32 arange(n) * mult (wrapping) on the device, read-only: grown, never rebuilt per
        chunk, and on the CPU shared by all workspaces across calls (up to 2**22 entries)."""
        key = (str(self.device), mult)
        cache = _IOTA if self._pooled else self._iotas
        t = cache.get(key)
        if t is None or t.numel() < n:
            t = torch.arange(max(n, 1), dtype=torch.int32, device=self.device)
            if mult != 1:
                t.mul_(mult)
            if not self._pooled or n <= 1 << 22:
                cache[key] = t
        return t[:n]

    def ones(self, n: int, dtype: torch.dtype) -> torch.Tensor:
        b = self._ones.get(dtype)
        if b is None or b.numel() < n:
            b = torch.ones(max(n, 1), dtype=dtype, device=self.device)
            self._ones[dtype] = b
        return b[:n]

    def compute(self, x: torch.Tensor, name: str, dtype: torch.dtype) -> torch.Tensor:
        """x itself if it already has ``dtype``, else a converted copy in a scratch buffer."""
        if x.dtype == dtype:
            return x
        return self.buf(name, x.numel(), dtype).view(x.shape).copy_(x)


@dataclass
class OpContext:
    """What a kernel needs besides tensors and parameters: seed, position, chunking, stats."""

    seed: int = 0
    op_index: int = 0
    chunk_frames: int | None = None
    stats: dict | None = None
    tensors: dict = field(default_factory=dict)

    def key(self, stream: str, task: int = 0) -> Key:
        return Key(self.seed, (self.op_index, stream, task))

    def frames_per_chunk(self, layout: Layout, cpu_elems: int = DEFAULT_CHUNK_ELEMS) -> int:
        """The caller's chunk_frames, else about ``cpu_elems`` elements (CPU) / CUDA_CHUNK_ELEMS."""
        if self.chunk_frames is not None:
            return self.chunk_frames
        per = CUDA_CHUNK_ELEMS if layout.cuda else cpu_elems
        return max(1, per // max(layout.F, 1))

    def elems_per_chunk(self, layout: Layout) -> int:
        return max(1, self.frames_per_chunk(layout) * max(layout.F, 1))


def frame_chunks(T: int, per: int) -> Iterator[tuple[int, int]]:
    for t0 in range(0, T, per):
        yield t0, min(T, t0 + per)


def flat_chunks(n: int, per: int) -> Iterator[tuple[int, int]]:
    for e0 in range(0, n, per):
        yield e0, min(n, e0 + per)


def flat(t: torch.Tensor) -> torch.Tensor:
    """A 1-D view of a contiguous tensor."""
    return t.view(-1)


def describe_dtype(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
        raise ParameterError("seed", seed, "[0, 2**64)", "pass a non-negative integer seed")
    return seed


def check_chunk_frames(chunk_frames) -> int | None:
    if chunk_frames is None:
        return None
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ParameterError("chunk_frames", chunk_frames, "[1, inf) or None",
                             "pass a number of frames per chunk, or None for about 1 MiB per chunk")
    return chunk_frames


def check_tensors(parents: Sequence[torch.Tensor], base: torch.Tensor | None, *, min_parents: int,
                  max_parents: int | None, op: str) -> Layout:
    """Same shape, dtype and device everywhere; parent count within the operator's range."""
    if isinstance(parents, torch.Tensor):
        raise ParameterError("parents", parents, "a list of tensors", "pass [a, b, ...], not one tensor")
    k = len(parents)
    if k < min_parents or (max_parents is not None and k > max_parents):
        if min_parents == max_parents:
            allowed = f"exactly {min_parents} parents for {op}"
        elif max_parents is None:
            allowed = f"at least {min_parents} parents for {op}"
        else:
            allowed = f"{min_parents} to {max_parents} parents for {op}"
        raise ParameterError("parents", f"{k} tensors", allowed, "pass a matching number of parents")
    for i, p in enumerate(parents):
        if not isinstance(p, torch.Tensor):
            raise ParameterError(f"parents[{i}]", p, "a torch tensor", "pass tensors of shape [T, ...]")
    first = parents[0]
    if first.dim() < 1:
        raise ShapeError("parents[0]", first, "tensors of shape [T, ...] (at least 1-D)", "add a frame axis")
    for i, p in enumerate(parents[1:], start=1):
        _same(f"parents[{i}]", p, first, "parents[0]")
    if base is not None:
        if not isinstance(base, torch.Tensor):
            raise ParameterError("base", base, "a torch tensor or None", "pass the common ancestor's tensor")
        _same("base", base, first, "parents[0]")
    return Layout.of(first)


def _same(name: str, t: torch.Tensor, ref: torch.Tensor, ref_name: str) -> None:
    if tuple(t.shape) != tuple(ref.shape):
        raise ShapeError(name, t, f"shape {tuple(ref.shape)} (the shape of {ref_name})",
                         "align the sequences first (merge_kernels.align) or cross states of the same space")
    if t.dtype != ref.dtype:
        raise DtypeError(name, t, f"dtype {describe_dtype(ref.dtype)} (the dtype of {ref_name})",
                         "convert all inputs to one dtype")
    if t.device != ref.device:
        raise ParameterError(name, t, f"device {ref.device} (the device of {ref_name})", "move all inputs to one device")


def overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors share any bytes of storage."""
    if a.device != b.device or a.numel() == 0 or b.numel() == 0:
        return False
    a0 = a.data_ptr()
    b0 = b.data_ptr()
    a1 = a0 + a.numel() * a.element_size()
    b1 = b0 + b.numel() * b.element_size()
    return a0 < b1 and b0 < a1
