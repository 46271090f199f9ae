"""Exact k-nearest-neighbour search in torch on any device: the GPU path where torch sees CUDA but FAISS has no
GPU build (faiss-gpu needs CUDA 12 libraries; faiss-cpu runs anywhere).

``TorchFlat`` mirrors a FAISS ``IndexIDMap2(IndexFlatL2)``: int64 ids, squared L2 distances, ``search`` returns
(distances (nq, k) float32, ids (nq, k) int64), nearest first, padded with (FLT_MAX, -1) where fewer than k
points are indexed, as FAISS pads. The database stays on the device in float32, columns sorted by id. Queries go
in batches sized so one (batch, N) distance block stays within ``budget`` values; distances are
``|q|^2 + |x|^2 - 2 q.x`` by one float32 matmul, clamped at 0 (as FAISS flat computes them for batches).

``within`` is the exhaustive ball test of the engine's incremental path (population.ball_candidates) on the
same device and blocks.

Ties: the k nearest are ordered by (distance, id), and a tie at the k-th place keeps the smaller ids, so a result
is deterministic; on data without a tie at the boundary it is FAISS flat's result (up to float rounding).

The matmul is float32: a process that enables TF32 (``torch.backends.cuda.matmul.allow_tf32`` or a float32
matmul precision below "highest") loses about three digits; the engine recomputes list distances from the
vectors, but near-equal neighbours could swap. torch's default is full float32.
"""

from __future__ import annotations

import numpy as np
import torch

FLT_MAX = float(np.finfo(np.float32).max)  # FAISS's distance for a missing neighbour
CPU_BUDGET = 1 << 22  # values of one distance block on the CPU (16 MiB of float32)
CUDA_BUDGET = 1 << 28  # on a GPU (1 GiB; topk and the tie test add about half of that)
MAX_BATCH = 1 << 16  # queries per block at most, however small the database


class TorchFlat:
    """Vectors with int64 ids on ``device`` and exact k-NN search over them (see the module docstring)."""

    def __init__(self, dim: int, device: str | torch.device = "cpu", *, budget: int = 0) -> None:
        self.dim = dim
        self.device = torch.device(device)
        self.budget = budget or (CUDA_BUDGET if self.device.type == "cuda" else CPU_BUDGET)
        self._x = torch.zeros((0, dim), dtype=torch.float32, device=self.device)  # capacity rows; first n used
        self._norm = torch.zeros(0, dtype=torch.float32, device=self.device)  # |x|^2 of each row
        self._ids = np.zeros(0, dtype=np.int64)  # sorted ascending: column j holds id _ids[j]
        self._n = 0

    @property
    def ntotal(self) -> int:
        return self._n

    @property
    def ids(self) -> np.ndarray:
        """The indexed ids, ascending (a copy)."""
        return self._ids.copy()

    def batch_size(self) -> int:
        """Queries per distance block: the (batch, N) block fits in ``budget`` values."""
        return max(1, min(MAX_BATCH, self.budget // max(1, self._n)))

    # -- contents --------------------------------------------------------------------------------------
    def add(self, x: np.ndarray, ids: np.ndarray) -> None:
        """Index rows of ``x`` (m, dim) under ``ids`` (m,), which must be new and distinct."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.dim or len(ids) != len(x):
            raise ValueError(f"add: {x.shape} vectors with {len(ids)} ids; expected (m, {self.dim}) and m ids")
        if not len(ids):
            return
        order = np.argsort(ids, kind="stable")
        ids, x = ids[order], x[order]
        if (np.diff(ids) == 0).any() or np.isin(ids, self._ids).any():
            raise ValueError("add: ids must be new and distinct (remove an id before adding it again)")
        n, m = self._n, len(ids)
        self._reserve(n + m)
        xt = _tensor(x, self.device)
        self._x[n : n + m] = xt
        self._norm[n : n + m] = (xt * xt).sum(dim=1)
        self._n = n + m
        if n and ids[0] < self._ids[-1]:  # not appended in id order: re-sort the columns
            all_ids = np.concatenate([self._ids, ids])
            perm = np.argsort(all_ids, kind="stable")
            p = torch.from_numpy(perm).to(self.device)
            self._x[: self._n] = self._x[: self._n].index_select(0, p)
            self._norm[: self._n] = self._norm[: self._n].index_select(0, p)
            self._ids = all_ids[perm]
        else:
            self._ids = np.concatenate([self._ids, ids])

    def remove(self, ids: np.ndarray) -> int:
        """Drop the indexed points among ``ids``; returns how many were dropped (unknown ids are ignored)."""
        gone = np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        count = int(gone.sum())
        if count:
            keep = torch.from_numpy(np.flatnonzero(~gone)).to(self.device)
            kept = self._n - count
            self._x[:kept] = self._x[: self._n].index_select(0, keep)
            self._norm[:kept] = self._norm[: self._n].index_select(0, keep)
            self._ids = self._ids[~gone]
            self._n = kept
        return count

    def _reserve(self, need: int) -> None:
        if need <= len(self._x):
            return
        cap = max(need, int(1.25 * len(self._x)), 1024)
        x = torch.zeros((cap, self.dim), dtype=torch.float32, device=self.device)
        norm = torch.zeros(cap, dtype=torch.float32, device=self.device)
        x[: self._n], norm[: self._n] = self._x[: self._n], self._norm[: self._n]
        self._x, self._norm = x, norm

    # -- search ----------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(squared L2 distances, ids) of the ``k`` nearest indexed points of each query, nearest first, ties
        by id; (FLT_MAX, -1) pad where fewer than ``k`` points are indexed."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim or k < 1:
            raise ValueError(f"search: queries {q.shape}, k={k}; expected (nq, {self.dim}) and k >= 1")
        dist = np.full((len(q), k), FLT_MAX, dtype=np.float32)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        kk = min(k, self._n)
        if kk == 0 or not len(q):
            return dist, ids
        step = self.batch_size()
        x, norm = self._x[: self._n], self._norm[: self._n]
        with torch.inference_mode():
            for s in range(0, len(q), step):
                d, cols = _block_knn(_tensor(q[s : s + step], self.device), x, norm, kk)
                dist[s : s + step, :kk] = d.cpu().numpy()
                ids[s : s + step, :kk] = self._ids[cols.cpu().numpy()]
        return dist, ids


    def within(self, queries: np.ndarray, radius2: np.ndarray, rel: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
        """Every (query i, id) with ``d2 <= radius2 * (1 + rel) + tol * (|q|^2 + |x|^2)``, ``d2`` the GEMM squared
        distance and ``radius2`` (ntotal,) one bound per indexed point in id order (+inf: every query): an
        exhaustive ball test, a superset of the true one within the slack. Pairs by query, then id."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        out_q, out_i = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        if not self._n or not len(q):
            return out_q[0], out_i[0]
        x, norm = self._x[: self._n], self._norm[: self._n]
        bound = _tensor(np.ascontiguousarray(radius2, dtype=np.float32), self.device).mul(1.0 + rel).unsqueeze(0)
        step = self.batch_size()
        with torch.inference_mode():
            for s in range(0, len(q), step):
                qt = _tensor(q[s : s + step], self.device)
                qn = (qt * qt).sum(dim=1, keepdim=True)
                d = torch.addmm(norm.unsqueeze(0), qt, x.T, beta=1.0 - tol, alpha=-2.0)  # (1 - tol)|x|^2 - 2 q.x
                d.add_(qn, alpha=1.0 - tol)  # d2 - tol (|q|^2 + |x|^2): no clamp needed, the bound is >= 0
                qi, col = (d <= bound).nonzero(as_tuple=True)
                out_q.append(qi.cpu().numpy() + s)
                out_i.append(self._ids[col.cpu().numpy()])
        return np.concatenate(out_q), np.concatenate(out_i)


def _tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """``a`` on ``device`` (a read-only array is copied first: torch warns on sharing one)."""
    return torch.from_numpy(a if a.flags.writeable else a.copy()).to(device)


def _block_knn(q: torch.Tensor, x: torch.Tensor, norm: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest squared distances from each query of ``q`` (b, d) to the columns ``x`` (n, d), and their
    columns, ordered by (distance, column); columns are in id order, so ties go to the smaller id."""
    d = torch.addmm(norm.unsqueeze(0), q, x.T, beta=1.0, alpha=-2.0)  # |x|^2 - 2 q.x, one (b, n) block
    d.add_((q * q).sum(dim=1, keepdim=True)).clamp_(min=0.0)
    vals, cols = torch.topk(d, k, dim=1, largest=False, sorted=False)
    # Which k of several points tied at the k-th distance topk keeps is unspecified: rows with such a tie are
    # sorted in full (stable, so by column), and every row's k are then ordered by (distance, column).
    kth = vals.max(dim=1, keepdim=True).values
    tied = ((d <= kth).sum(dim=1) > k).nonzero().flatten()
    if len(tied):
        tv, tc = torch.sort(d.index_select(0, tied), dim=1, stable=True)
        vals[tied], cols[tied] = tv[:, :k], tc[:, :k]
    by_col = torch.argsort(cols, dim=1)
    vals, cols = vals.gather(1, by_col), cols.gather(1, by_col)
    by_val = torch.sort(vals, dim=1, stable=True).indices
    return vals.gather(1, by_val), cols.gather(1, by_val)
