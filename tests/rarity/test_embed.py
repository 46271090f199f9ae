"""Embeddings: deterministic and versioned; projections keep distances; token sketches measure Hamming distance."""

from __future__ import annotations

import numpy as np
import pytest

from multiverse.errors import InvalidArgument
from multiverse.rarity import make_embedder
from multiverse.rarity.embed import content_hash


def test_small_vectors_are_indexed_as_they_are():
    e = make_embedder(64)
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    assert e.method == "identity" and np.array_equal(e.embed(x), x)
    assert np.array_equal(content_hash(e.embed(np.array([[-0.0] * 64]))), content_hash(np.zeros((1, 64))))


def test_large_frames_are_projected_to_256_keeping_distances():
    e = make_embedder(16 * 18 * 32)  # an Oasis frame
    assert (e.method, e.out_dim) == ("gaussian", 256) and "in=9216:out=256:seed=0" in e.version
    x = np.random.default_rng(1).standard_normal((40, 16, 18, 32)).astype(np.float32)
    y = e.embed(x)
    assert y.shape == (40, 256) and np.array_equal(y, make_embedder(9216).embed(x))  # same seed, same bytes
    i, j = np.triu_indices(40, 1)
    ratio = np.linalg.norm(y[i] - y[j], axis=1) / np.linalg.norm(x.reshape(40, -1)[i] - x.reshape(40, -1)[j], axis=1)
    assert abs(ratio.mean() - 1) < 0.02 and ratio.std() < 0.06 and 0.8 < ratio.min() and ratio.max() < 1.2
    assert make_embedder(9216, seed=1).version != e.version


def test_token_frames_are_sketched_so_distance_tracks_hamming():
    e = make_embedder(336, vocab_size=8192)  # a MineWorld frame: 336 token ids
    rng = np.random.default_rng(2)
    base = rng.integers(0, 8192, 336)
    frames = np.stack([base] + [np.where(rng.random(336) < p, rng.integers(0, 8192, 336), base) for p in (0.05, 0.2, 0.5)])
    y = e.embed(frames)
    hamming = (frames[1:] != base).sum(axis=1)
    sq = ((y[1:] - y[0]) ** 2).sum(axis=1)
    assert np.all(np.diff(sq) > 0) and np.allclose(sq / (2 * hamming), 1.0, atol=0.3)  # an unbiased estimate, ~9% sd
    with pytest.raises(InvalidArgument, match=r"\[0, 8192\)"):
        e.embed(np.full((1, 336), 9000))
    with pytest.raises(InvalidArgument, match="integer token ids"):
        e.embed(np.zeros((1, 336), dtype=np.float32))
