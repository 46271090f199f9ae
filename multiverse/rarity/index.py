"""The index of one population: exact while small, IVF past a size, on a GPU when there is one.

- ``flat``: ``IndexIDMap2(IndexFlatL2)``: exact; ids are the population's row numbers.
- ``ivf``: ``IndexIVFFlat`` with a hash-table direct map (so rows can be removed and reconstructed), nlist about
  ``nlist_per_sqrt * sqrt(N)``, trained on a seeded sample and retrained when the population has grown by
  ``retrain_growth`` since; ``nprobe`` is the smallest power of two whose n-recall@k against exact search on a
  seeded sample of the population reaches ``target_recall`` (plus a margin for the sample's noise).

Where searches run is ``IndexSettings.device`` (see ``backends``): the FAISS index is always kept (it is what is
persisted and reconstructed); with a torch backend the flat index is mirrored on the torch device
(``torchknn.TorchFlat``, exact, the same results) and searched there, and IVF stays FAISS (faiss-gpu, when
installed, serves its bulk searches).

Distances in and out are squared L2 (FAISS's convention); callers take square roots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import faiss
import numpy as np

from multiverse.errors import InvalidArgument

if TYPE_CHECKING:
    from multiverse.rarity.torchknn import TorchFlat

RECALL_MARGIN = 0.01  # tune to target + this, so that the sample's estimate is not right at the edge
MAX_NPROBE = 1024

Device = Literal["auto", "cpu", "cuda", "torch-cpu"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "torch-cpu")


@dataclass(frozen=True)
class IndexSettings:
    exact_limit: int = 100_000  # flat up to this many points, IVF past it
    nlist_per_sqrt: float = 2.0  # k-means cost grows with nlist^2: 2 sqrt(N) lists train 4x faster than 4 sqrt(N)
    target_recall: float = 0.95
    nprobe: int = 0  # 0: tuned for target_recall
    retrain_growth: float = 4.0
    train_per_list: int = 40  # k-means sample: this many points per list (FAISS warns below 39)
    tune_queries: int = 400
    seed: int = 0
    # Where searches run; no part of the index's identity (every device gives the same lists), so not stored:
    # "auto": faiss-gpu for IVF where FAISS has GPUs, torch CUDA for the exact index where torch sees CUDA, else
    # FAISS on the CPU; "cpu": FAISS on the CPU; "cuda": as "auto" but a GPU must be there; "torch-cpu": the
    # exact index searched by torch on the CPU (the torch path without a GPU, for tests and comparison).
    device: Device = field(default="auto", compare=False)


def gpu_count() -> int:
    """GPUs FAISS can use (0 for the CPU build)."""
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return int(get()) if get is not None else 0
    except RuntimeError:  # a GPU build on a machine without a driver
        return 0


def torch_cuda() -> bool:
    """Whether torch is installed and sees a CUDA device."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; a trimmed install may lack it
        return False
    return bool(torch.cuda.is_available())


def backends(settings: IndexSettings) -> tuple[str, str]:
    """(exact index backend, IVF backend) that ``settings.device`` resolves to on this machine: each one of
    "faiss-cpu", "faiss-gpu" (IVF bulk searches), "torch-cuda", "torch-cpu"."""
    device = settings.device
    if device not in DEVICES:
        raise InvalidArgument("device", device, f"use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "faiss-cpu", "faiss-cpu"
    if device == "torch-cpu":
        return "torch-cpu", "faiss-cpu"
    faiss_gpu, cuda = gpu_count() > 0, torch_cuda()
    if device == "cuda" and not (faiss_gpu or cuda):
        raise InvalidArgument("device", device, "neither torch nor FAISS sees a GPU here: use auto or cpu")
    return ("torch-cuda" if cuda else "faiss-cpu"), ("faiss-gpu" if faiss_gpu else "faiss-cpu")


def uses_gpu(settings: IndexSettings) -> bool:
    """Whether indexes with ``settings`` search on a GPU here (either path)."""
    flat, ivf = backends(settings)
    return flat == "torch-cuda" or ivf == "faiss-gpu"


def owned_downcast(index: faiss.Index) -> faiss.Index:
    """``index`` as its concrete FAISS class, owning the C++ object. ``faiss.downcast_index`` returns a second,
    non-owning wrapper: dropping the original (as ``x = downcast_index(x)`` does) frees the index under it, and a
    later call reads freed memory (a restart once asked ``reconstruct_batch`` for a (n, 1144873064) array)."""
    down = faiss.downcast_index(index)
    if down is not index:
        if getattr(index, "thisown", False):
            index.thisown, down.thisown = False, True  # hand the C++ object over to the wrapper that is kept
        if hasattr(index, "referenced_objects"):  # Python-owned parts (a quantizer passed to a constructor)
            down.referenced_objects = index.referenced_objects
    return down


class VectorIndex:
    """Rows (int64 ids) of one population in a FAISS index; see the module docstring."""

    def __init__(self, dim: int, settings: IndexSettings) -> None:
        self.dim = dim
        self.settings = settings
        self.kind = "flat"
        self.nlist = 0
        self.nprobe = 0
        self.trained_n = 0
        self.measured_recall: float | None = None
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatL2(dim))
        self._gpu: faiss.Index | None = None
        self._gpu_res = None
        self.flat_backend, self.ivf_backend = backends(settings)
        self._torch: TorchFlat | None = None  # the flat index mirrored on the torch device (built on demand)

    @property
    def backend(self) -> str:
        """What serves this index's searches now (see ``backends``)."""
        return self.flat_backend if self.kind == "flat" else self.ivf_backend

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def wants_rebuild(self, n_after: int) -> bool:
        """Whether growing to ``n_after`` points calls for a new index (flat -> IVF, or an IVF retrain)."""
        if self.kind == "flat":
            return n_after > self.settings.exact_limit
        return n_after > self.settings.retrain_growth * self.trained_n

    def build(self, x: np.ndarray, rows: np.ndarray, k: int) -> None:
        """Replace the index by one over ``x`` (n, dim) with ids ``rows``; IVF when n > exact_limit."""
        n = len(rows)
        self._gpu, self._torch = None, None
        if n <= self.settings.exact_limit:
            self.kind, self.nlist, self.nprobe, self.trained_n, self.measured_recall = "flat", 0, 0, n, None
            self._index = faiss.IndexIDMap2(faiss.IndexFlatL2(self.dim))
            if n:
                self._index.add_with_ids(x, rows)
            if self.flat_backend.startswith("torch"):
                self._torch = self._new_torch(x, rows)
            return
        nlist = max(16, round(self.settings.nlist_per_sqrt * math.sqrt(n)))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(self.dim), self.dim, nlist, faiss.METRIC_L2)
        ivf.cp.seed = self.settings.seed
        ivf.cp.niter = 10
        ivf.cp.max_points_per_centroid = self.settings.train_per_list
        rng = np.random.default_rng(self.settings.seed)
        sample = rng.choice(n, size=min(n, nlist * self.settings.train_per_list), replace=False)
        ivf.train(x[np.sort(sample)])
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.add_with_ids(x, rows)
        self.kind, self.nlist, self.trained_n, self._index = "ivf", nlist, n, ivf
        if self.settings.nprobe:
            self.nprobe, self.measured_recall = min(self.settings.nprobe, nlist), None
        else:
            self.nprobe, self.measured_recall = self._tune(x, rows, k)
        ivf.nprobe = self.nprobe

    def _tune(self, x: np.ndarray, rows: np.ndarray, k: int) -> tuple[int, float]:
        """Smallest power-of-two nprobe reaching target_recall + margin on a seeded sample of the points."""
        rng = np.random.default_rng(self.settings.seed + 1)
        pick = np.sort(rng.choice(len(rows), size=min(len(rows), self.settings.tune_queries), replace=False))
        queries = x[pick]
        _, exact = faiss.knn(queries, x, k + 1)  # positions; the query itself is among them
        truth = [set(rows[e].tolist()) - {int(rows[p])} for e, p in zip(exact, pick)]
        goal = min(1.0, self.settings.target_recall + RECALL_MARGIN)
        nprobe, recall = 1, 0.0
        while True:
            self._index.nprobe = nprobe
            _, found = self._index.search(queries, k + 1)
            recall = float(np.mean([len(t & set(f.tolist())) / max(1, len(t)) for t, f in zip(truth, found)]))
            if recall >= goal or nprobe >= min(self.nlist, MAX_NPROBE):
                return nprobe, recall
            nprobe *= 2

    def add(self, x: np.ndarray, rows: np.ndarray) -> None:
        if len(rows):
            x, rows = np.ascontiguousarray(x, dtype=np.float32), rows.astype(np.int64)
            self._index.add_with_ids(x, rows)
            self._gpu = None
            if self._torch is not None:
                self._torch.add(x, rows)

    def remove(self, rows: np.ndarray) -> None:
        if len(rows):
            self._index.remove_ids(faiss.IDSelectorBatch(rows.astype(np.int64)))
            self._gpu = None
            if self._torch is not None:
                self._torch.remove(rows)

    def search(self, queries: np.ndarray, k: int, *, bulk: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(squared distances, rows) of the ``k`` nearest indexed points of each query; -1 rows pad.
        The flat index is searched on its torch mirror with a torch backend; ``bulk`` (many queries) IVF searches
        run on a GPU copy of the index when FAISS has a GPU."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, self.ntotal)) if self.ntotal else 1
        if self.ntotal == 0:
            return np.full((len(q), 1), np.inf, np.float32), np.full((len(q), 1), -1, np.int64)
        if self.kind == "flat" and self._torch_backed():
            return self._torch_index().search(q, k)
        index = self._on_gpu() if bulk else self._index
        return index.search(q, k)

    def ball_pairs(
        self, queries: np.ndarray, rows: np.ndarray, radius: np.ndarray, rel: float, tol: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """On a flat index searched by torch that holds exactly ``rows``: every (query i, row) with GEMM squared
        distance <= radius[row]^2 (1 + rel) + tol (|q|^2 + |x|^2), computed on the torch device; else None (the
        caller tests on the CPU)."""
        if self.kind != "flat" or not self._torch_backed() or self.ntotal != len(rows):
            return None
        mirror = self._torch_index()
        r2 = radius[mirror.ids].astype(np.float32) ** 2
        return mirror.within(queries, r2, rel, tol)

    def _torch_backed(self) -> bool:
        return self.flat_backend.startswith("torch")

    def _new_torch(self, x: np.ndarray, rows: np.ndarray) -> TorchFlat:
        # torch is imported only where a torch backend is used
        from multiverse.rarity.torchknn import TorchFlat

        mirror = TorchFlat(self.dim, "cuda" if self.flat_backend == "torch-cuda" else "cpu")
        mirror.add(x, rows)
        return mirror

    def _torch_index(self) -> TorchFlat:
        """The flat index's torch mirror, copied from the FAISS index the first time (e.g. after a load)."""
        if self._torch is None:
            # borrowed views (they own nothing): valid while self._index, which owns the C++ objects, is alive
            idmap = faiss.downcast_index(self._index)
            rows = faiss.vector_to_array(idmap.id_map).astype(np.int64)
            self._torch = self._new_torch(idmap.index.reconstruct_n(0, idmap.ntotal), rows)
        return self._torch

    def range_pairs(self, queries: np.ndarray, radius2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query, row, squared distance) with squared distance < ``radius2`` that the index finds
        (all of them for ``flat``; those in the ``nprobe`` probed lists for ``ivf``)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        lims, dist, rows = self._index.range_search(q, float(radius2))
        qi = np.repeat(np.arange(len(q), dtype=np.int64), np.diff(lims).astype(np.int64))
        return qi, rows.astype(np.int64), dist

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows`` (n, dim)."""
        if not len(rows):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(rows.astype(np.int64))

    def _on_gpu(self) -> faiss.Index:
        if self.ivf_backend != "faiss-gpu" or self.kind != "ivf":
            return self._index
        if self._gpu is None:  # pragma: no cover - needs faiss-gpu and a device
            if self._gpu_res is None:  # the resources must outlive every index cloned with them
                self._gpu_res = faiss.StandardGpuResources()
            self._gpu = faiss.index_cpu_to_gpu(self._gpu_res, 0, self._index)
            faiss.GpuParameterSpace().set_index_parameter(self._gpu, "nprobe", self.nprobe)
        return self._gpu

    # persistence -------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()

    def meta(self) -> dict:
        return {
            "kind": self.kind,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "trained_n": self.trained_n,
            "measured_recall": self.measured_recall,
            "ntotal": self.ntotal,
        }

    @classmethod
    def from_bytes(cls, dim: int, settings: IndexSettings, data: bytes, meta: dict) -> VectorIndex:
        index = cls(dim, settings)
        loaded = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if loaded.d != dim or loaded.ntotal != meta["ntotal"]:
            raise ValueError(f"stored index has d={loaded.d}, ntotal={loaded.ntotal}; expected {dim}, {meta['ntotal']}")
        if meta["kind"] == "ivf":
            loaded = owned_downcast(loaded)
            loaded.nprobe = int(meta["nprobe"])
        index._index = loaded
        index.kind, index.nlist, index.nprobe = meta["kind"], int(meta["nlist"]), int(meta["nprobe"])
        index.trained_n, index.measured_recall = int(meta["trained_n"]), meta["measured_recall"]
        return index
