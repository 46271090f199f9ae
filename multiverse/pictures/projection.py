"""Where a vector sits in its latent space, in two dimensions: the plane of the two principal axes of a bounded
sample of the space's population (PCA). Pure functions over arrays: ``fit_plane`` once per index version,
``place`` for each picture. Deterministic: the sample is taken by even strides over the population's rows, the
SVD runs in float64, and each axis's sign is fixed (its largest coefficient positive), so the same population
and vector give the same coordinates, hence the same picture bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE = 2048  # rows of the population the plane is fitted on (and drawn as the backdrop)


@dataclass(frozen=True)
class Plane:
    """The two principal axes of a sample: ``mean`` (D,), ``axes`` (2, D) orthonormal, and the sample's own
    coordinates ``backdrop`` (M, 2)."""

    mean: np.ndarray
    axes: np.ndarray
    backdrop: np.ndarray

    def project(self, x: np.ndarray) -> np.ndarray:
        """(..., D) -> (..., 2) coordinates on the plane."""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.axes.T


@dataclass(frozen=True)
class View:
    """What a chart draws: the population's ``backdrop`` (M, 2), the vector ``here`` (2,), and its nearest
    ``neighbours`` (k, 2), nearest first."""

    backdrop: np.ndarray
    here: np.ndarray
    neighbours: np.ndarray


def even_sample(rows: np.ndarray, limit: int = SAMPLE) -> np.ndarray:
    """At most ``limit`` of ``rows``, evenly spread and in order (the same rows give the same sample)."""
    if len(rows) <= limit:
        return rows
    return rows[np.linspace(0, len(rows) - 1, limit).round().astype(np.int64)]


def fit_plane(sample: np.ndarray) -> Plane:
    """The plane of the two principal axes of ``sample`` (M, D); an axis the sample does not span (M < 3, D < 2,
    or all points equal) is zero, so every point of a degenerate sample lands on a line or at the origin."""
    x = np.asarray(sample, dtype=np.float64).reshape(len(sample), -1)
    dim = x.shape[1]
    mean = x.mean(axis=0) if len(x) else np.zeros(dim)
    axes = np.zeros((2, dim))
    if len(x) >= 2:
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        for i in range(min(2, len(s))):
            if s[i] > 1e-9 * max(1.0, s[0]):
                v = vt[i]
                axes[i] = v if v[np.argmax(np.abs(v))] >= 0 else -v
    plane = Plane(mean, axes, np.zeros((0, 2)))
    return Plane(mean, axes, plane.project(x))


def place(plane: Plane, here: np.ndarray, neighbours: np.ndarray) -> View:
    """The View of vector ``here`` (D,) and its ``neighbours`` (k, D) on ``plane``."""
    near = np.asarray(neighbours, dtype=np.float64).reshape(-1, plane.mean.shape[0])
    return View(plane.backdrop, plane.project(here), plane.project(near))
