"""Per-space, versioned, deterministic embeddings: what the rarity index measures distances between. Pure.

Three kinds, registered by name (``EMBEDDERS``):

- ``identity``: float vectors of at most ``max_dim`` values (player vectors, small frames) as they are.
- ``gaussian``: float vectors with more values, mapped to ``out_dim`` by a fixed-seed Gaussian random
  projection ``y = x @ R / sqrt(out_dim)`` (Johnson-Lindenstrauss: for out_dim=256 each pairwise distance is
  kept up to a factor with mean 1 and about 4.5% standard deviation), so a 16x18x32 Oasis frame (9,216 values) becomes 256 floats.
- ``token-sketch``: discrete frames (token ids). Each (position, token) pair is hashed to one output coordinate
  and a sign (a count sketch of the one-hot encoding), so squared distances estimate twice the number of
  positions whose tokens differ: Hamming distance, the natural metric for token frames.

The version string names everything the output depends on; a stored index built under another version is
not comparable and is rebuilt from vectors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from multiverse.errors import InvalidArgument

EMBEDDERS = ("identity", "gaussian", "token-sketch")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class Embedder:
    """Maps (n, in_dim) inputs of one kind of one space to (n, out_dim) float32 rows."""

    method: str
    in_dim: int
    out_dim: int
    seed: int = 0
    vocab_size: int = 0  # token-sketch only

    @property
    def version(self) -> str:
        extra = f":vocab={self.vocab_size}" if self.method == "token-sketch" else ""
        return f"{self.method}-v1:in={self.in_dim}:out={self.out_dim}:seed={self.seed}{extra}"

    def embed(self, vectors: np.ndarray, field: str = "vectors") -> np.ndarray:
        """Validate ``vectors`` ((n, in_dim) or (n, *shape) with in_dim values per row) and embed them.

        Raises InvalidArgument naming ``field`` for a wrong size, a non-numeric dtype, NaN/Inf or token ids
        outside the vocabulary. Returns a C-contiguous float32 (n, out_dim) array."""
        x = np.asarray(vectors)
        if x.ndim == 0 or x.dtype.kind not in "fiub":
            raise InvalidArgument(
                field, f"array of dtype {x.dtype} and shape {x.shape}", "pass a numeric array (n, values...)"
            )
        x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
        if x.shape[1] != self.in_dim:
            raise InvalidArgument(
                field,
                f"shape {tuple(np.shape(vectors))}",
                f"each vector must hold {self.in_dim} values (the latent space's size for this kind)",
            )
        if self.method == "token-sketch":
            return self._sketch(x, field)
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            bad = int(np.argwhere(~np.isfinite(x))[0][0])
            raise InvalidArgument(f"{field}[{bad}]", "NaN or Inf", "send finite values only")
        if self.method == "identity":
            out = x + np.float32(0.0)  # a copy, with -0.0 folded into 0.0 so equal vectors hash equal
        else:
            out = x @ _projection(self.in_dim, self.out_dim, self.seed)
        return np.ascontiguousarray(out, dtype=np.float32) + np.float32(0.0)

    def _sketch(self, tokens: np.ndarray, field: str) -> np.ndarray:
        if tokens.dtype.kind == "f":
            raise InvalidArgument(field, f"dtype {tokens.dtype}", "a discrete space takes integer token ids")
        ids = tokens.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InvalidArgument(
                field, f"token ids in [{ids.min()}, {ids.max()}]", f"use ids in [0, {self.vocab_size})"
            )
        n, length = ids.shape
        positions = np.arange(length, dtype=np.uint64)[None, :]
        h = _mix(ids.astype(np.uint64) * np.uint64(length) + positions + np.uint64(self.seed) * _GOLDEN)
        column = (h % np.uint64(self.out_dim)).astype(np.int64)  # (n, length)
        sign = np.where((h >> np.uint64(63)) == 1, 1.0, -1.0).astype(np.float32)
        out = np.zeros((n, self.out_dim), dtype=np.float32)
        np.add.at(out, (np.repeat(np.arange(n), length), column.ravel()), sign.ravel())
        return out


def make_embedder(in_dim: int, *, max_dim: int = 256, seed: int = 0, vocab_size: int = 0) -> Embedder:
    """The embedder for vectors of ``in_dim`` values: identity up to ``max_dim``, else a projection to
    ``max_dim``; ``vocab_size > 0`` means integer token ids (a discrete space)."""
    if in_dim < 1:
        raise InvalidArgument("in_dim", in_dim, "a vector needs at least one value")
    if max_dim < 1:
        raise InvalidArgument("embed_dim", max_dim, "use a positive number of dimensions, e.g. 256")
    if vocab_size > 0:
        return Embedder("token-sketch", in_dim, max_dim, seed, vocab_size)
    if in_dim <= max_dim:
        return Embedder("identity", in_dim, in_dim, seed)
    return Embedder("gaussian", in_dim, max_dim, seed)


@functools.lru_cache(maxsize=8)
def _projection(in_dim: int, out_dim: int, seed: int) -> np.ndarray:
    """(in_dim, out_dim) float32 N(0, 1/out_dim): the same matrix for the same (in_dim, out_dim, seed) anywhere."""
    rng = np.random.Generator(np.random.PCG64(seed))
    matrix = rng.standard_normal((in_dim, out_dim), dtype=np.float32) / np.float32(np.sqrt(out_dim))
    matrix.setflags(write=False)
    return matrix


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * _MIX1
        h = (h ^ (h >> np.uint64(27))) * _MIX2
        return h ^ (h >> np.uint64(31))


def content_hash(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each float32 row's bytes, (n,) uint64. Equal rows hash equal; callers compare the
    rows themselves on a hash match, so collisions cost a comparison, never a wrong merge."""
    x = np.ascontiguousarray(rows, dtype=np.float32)
    weights = _hash_weights(x.shape[1])
    out = np.empty(x.shape[0], dtype=np.uint64)
    words = x.view(np.uint32)
    with np.errstate(over="ignore"):
        for start in range(0, x.shape[0], 8192):  # (8192, d) uint64 temporaries: a few MiB
            block = words[start : start + 8192].astype(np.uint64)
            out[start : start + 8192] = _mix((block * weights).sum(axis=1, dtype=np.uint64))
    return out


@functools.lru_cache(maxsize=8)
def _hash_weights(dim: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers, one per column (a multiply-add hash, finalised by ``_mix``)."""
    with np.errstate(over="ignore"):
        return _mix(np.arange(1, dim + 1, dtype=np.uint64) * _GOLDEN) | np.uint64(1)
