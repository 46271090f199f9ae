"""Chunks already scored are not embedded or added twice (issue 17, point 3): a population's memory of which chunk
holds which of its rows, and the step that turns a snapshot given as chunks into rows to register. Pure.

A stored state is a manifest of content-addressed chunks, its frames cut at frame boundaries (docs/chunks.md), so
a context window that slides by 8 frames shares all but 8 frames' chunks with the save before it. A chunk's bytes
are its content: the same chunk holds the same frames, which embed to the same vectors, which are the same rows
of the population. ``ChunkRows`` remembers, per population (one space and kind), the rows each chunk's frames
came to (keyed by the frames' dtype and the chunk's BLAKE3 address; a chunk holding part of a frame is never
given), so that a snapshot's frames in a known chunk are registered onto those rows without being read, embedded
or added. It is a cache: nothing of it is saved, it starts empty (after a restart, a reload, a rebuild) and fills
again as snapshots are scored; a removal that takes rows out clears it.

It never makes a score differ from what the population gives without it:

- a remembered row holds exactly the vector the chunk's frames embed to (it was found, or added, for that very
  embedding), and a population holds each distinct vector in one alive row, which is where the engine without
  the memory would put those frames too;
- a frame's embedding does not depend on what it is embedded with only while the projection takes BLAS's general
  matrix product: a product of fewer rows than ``min_rows`` (a single row; OpenBLAS's small-matrix kernels below
  about 10^6 multiply-adds) may round differently. So the memory serves only snapshots with at least ``min_rows``
  frames (which the engine without it embeds by the general product too), and the frames it does embed go
  through one product of at least ``min_rows`` rows (padded with zero rows when fewer are new).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from multiverse.errors import Unavailable

if TYPE_CHECKING:
    from multiverse.rarity.embed import Embedder
    from multiverse.rarity.population import Population
    from multiverse.rarity.stage import Item, Staged

CAPACITY = 1 << 18  # chunks remembered per population (a few hundred bytes each); the least recently met go first
SMALL_GEMM = 1 << 23  # multiply-adds: products at least this large take BLAS's general kernel (8x its 10^6 limit)


@dataclass(frozen=True)
class Pieces:
    """A snapshot's vectors of one kind as content-addressed pieces, in order: piece j is named ``keys[j]`` (the
    vectors' dtype and the BLAKE3 address of the chunk holding them: equal keys, equal vectors) and holds
    ``counts[j]`` consecutive vectors. ``fresh`` holds the vectors ({key: (count, *shape)}) of the pieces the
    reader did not find remembered; the others are remembered, or fresh in an earlier snapshot of the same batch."""

    keys: tuple[str, ...]
    counts: tuple[int, ...]
    fresh: dict[str, np.ndarray]

    def __len__(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Embedded:
    """A snapshot's vectors already embedded, (n, dim), with ``known[i]`` the row vector i is known to be (-1: look
    it up); or the error refusing it."""

    x: np.ndarray | None
    known: np.ndarray | None
    error: Exception | None = None


class ChunkRows:
    """{chunk key: rows of its vectors} for one population, valid for one build (rows renumber at a rebuild)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._build = -1

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, pop: Population, key: str) -> tuple[int, ...] | None:
        """The rows remembered for ``key`` (alive: a removal that kills rows clears the memory), or None."""
        self._current(pop)
        rows = self._rows.get(key)
        if rows is not None:
            self._rows.move_to_end(key)
        return rows

    def remember(self, pop: Population, keys: tuple[str, ...], counts: tuple[int, ...], rows: list[int]) -> None:
        """Piece j, ``keys[j]``, holds the next ``counts[j]`` of ``rows``."""
        self._current(pop)
        at = 0
        for key, count in zip(keys, counts):
            self._rows[key] = tuple(rows[at : at + count])
            self._rows.move_to_end(key)
            at += count
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (rows died: a removal; the memory fills again as snapshots are scored)."""
        self._rows.clear()

    def _current(self, pop: Population) -> None:
        if self._build != pop.build:
            self._rows.clear()
            self._build = pop.build


def min_rows(embedder: Embedder) -> int:
    """The fewest vectors a snapshot needs for the memory to serve it (module docstring): 1 where each vector's
    embedding is computed on its own (identity, token sketch), else enough rows for the general matrix product."""
    if embedder.method != "gaussian":
        return 1
    return max(2, math.ceil(SMALL_GEMM / (embedder.in_dim * embedder.out_dim)))


def resolve(pop: Population, batch: list[Item]) -> tuple[list[Item], list[tuple[int, Pieces]]]:
    """``batch`` with each ``Pieces`` item turned into an ``Embedded`` one (remembered pieces: their rows' vectors,
    known; fresh pieces: embedded, every fresh piece of the batch in one product), and the positions and
    ``Pieces`` turned, for ``remember`` after the commit."""
    chunked = [(i, item[0]) for i, item in enumerate(batch) if isinstance(item[0], Pieces)]
    if not chunked:
        return batch, []
    fresh: dict[str, np.ndarray] = {}
    for _, p in chunked:
        for key, vectors in p.fresh.items():
            fresh.setdefault(key, vectors)
    embedded = _embed(pop, fresh)
    out = list(batch)
    for i, p in chunked:
        out[i] = (_assemble(pop, p, embedded), *batch[i][1:])
    return out, chunked


def remember(pop: Population, chunked: list[tuple[int, Pieces]], st: Staged) -> None:
    """After ``st`` committed: each piece's key -> the rows its vectors came to."""
    for i, p in chunked:
        outcome = st.outcomes[i]
        if isinstance(outcome, Exception):
            continue
        pop.chunk_rows.remember(pop, p.keys, p.counts, outcome[0].tolist())


def _embed(pop: Population, fresh: dict[str, np.ndarray]) -> dict[str, np.ndarray | Exception]:
    """Each fresh piece's embedded vectors (or the error refusing them), all through one product of at least
    ``min_rows`` rows; when the product is refused, piece by piece to find which."""
    if not fresh:
        return {}
    field = f"{pop.kind}s"
    parts = list(fresh.values())
    try:
        emb = _product(pop, np.concatenate(parts), field)
    except Exception:
        out: dict[str, np.ndarray | Exception] = {}
        for key, vectors in fresh.items():
            try:
                out[key] = _product(pop, vectors, field)
            except Exception as exc:
                out[key] = exc
        return out
    return dict(zip(fresh, np.split(emb, np.cumsum([len(p) for p in parts])[:-1])))


def _product(pop: Population, vectors: np.ndarray, field: str) -> np.ndarray:
    n, need = len(vectors), min_rows(pop.embedder)
    if n >= need:
        return pop.embedder.embed(vectors, field=field)
    padded = np.concatenate([vectors, np.zeros((need - n, *vectors.shape[1:]), dtype=vectors.dtype)])
    return pop.embedder.embed(padded, field=field)[:n]


def _assemble(pop: Population, p: Pieces, embedded: dict[str, np.ndarray | Exception]) -> Embedded:
    known: list[int] = []
    fresh = []
    for key, count in zip(p.keys, p.counts):
        rows = pop.chunk_rows.rows(pop, key)
        if rows is not None and len(rows) == count:
            known += rows
            continue
        vectors = embedded.get(key)
        if isinstance(vectors, Exception):
            return Embedded(None, None, vectors)
        if vectors is None:  # remembered when read, forgotten since (a removal): read it again
            return Embedded(None, None, Unavailable(
                f"the rows of chunk {key} left the rarity index while the snapshot was read: it is read again",
                chunk=key))
        fresh.append(vectors)
        known += [-1] * count
    rows = np.array(known, dtype=np.int64)
    x = np.empty((len(rows), pop.dim), dtype=np.float32)  # (n, dim): remembered rows' vectors, then the fresh
    have = rows >= 0
    x[have] = pop.x[rows[have]]
    if fresh:
        x[~have] = np.concatenate(fresh)
    return Embedded(x, rows)
