"""Explanations name what was planted: the dimension a planted outlier was pushed along, the spatial cell of a frame
that was changed (channels first or last, float or token ids), against the neighbours the engine finds."""

from __future__ import annotations

import numpy as np
import pytest

from multiverse.rarity import RarityEngine, VectorId
from multiverse.rarity.explain import explain, spatial_axes
from tests.rarity.data import DATASETS


def explained(engine: RarityEngine, x: np.ndarray, row: int, shape: tuple[int, ...], **kw):
    """The explanation of row ``row`` of snapshot "s" against the neighbours the engine lists for it."""
    near = engine.neighbors(VectorId("s", "frame", row))
    return explain(x[row], np.stack([x[n.id.index] for n in near]), shape, neighbors=tuple(near), **kw)


@pytest.mark.parametrize("name", ["combined", "local", "global"])
def test_a_planted_dimension_is_named_first_with_its_sign(name):
    x, _ = DATASETS[name]()
    x = x.copy()
    rows = np.random.default_rng(0).choice(len(x), 6, replace=False)
    for j, (row, dim) in enumerate(zip(rows, [3, 7, 11, 0, 15, 5])):
        x[row, dim] += (-1) ** j * 12.0 * x.std(axis=0)[dim]  # far out along one dimension, up or down
    engine = RarityEngine("s", frame_dim=x.shape[1])
    engine.add("frame", x, snapshot="s", world="w")
    for j, (row, dim) in enumerate(zip(rows, [3, 7, 11, 0, 15, 5])):
        e = explained(engine, x, int(row), (x.shape[1],))
        assert e.dims[0].index == dim and e.dims[0].position == (dim,)
        assert np.sign(e.dims[0].z) == (-1) ** j and abs(e.dims[0].z) > 3 * abs(e.dims[1].z)
        assert e.cells is None and len(e.neighbors) == 10  # a flat vector has no spatial grid


def frames(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth random frames: a few low-frequency patterns mixed per frame, plus a little noise."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((6, *shape))
    return (rng.standard_normal((n, 6)) @ basis.reshape(6, -1) + 0.1 * rng.standard_normal((n, int(np.prod(shape))))
            ).reshape(n, *shape).astype(np.float32)


@pytest.mark.parametrize("layout,shape", [("CHW", (3, 8, 8)), ("HWC", (8, 8, 3)), ("", (3, 8, 8)), ("", (8, 8, 3))])
def test_a_planted_cell_is_the_hottest(layout, shape):
    x = frames(1500, shape)
    rows, cols = (slice(4, 6), slice(2, 4))  # the cell (2, 1) of a 4 x 4 grid
    cell = (slice(None), rows, cols) if spatial_axes(shape, layout) == (1, 2) else (rows, cols)
    x[10][cell] += 3.0
    engine = RarityEngine("s", frame_dim=x[0].size)
    engine.add("frame", x.reshape(len(x), -1), snapshot="s", world="w")
    e = explained(engine, x, 10, shape, layout=layout, grid=4)
    c = e.cells
    assert (c.rows, c.cols, c.row_edges, c.col_edges) == (4, 4, (0, 2, 4, 6, 8), (0, 2, 4, 6, 8))
    assert c.hottest() == (2, 1) and c.values[2 * 4 + 1] > 2 * sorted(c.values)[-2]
    planted = np.zeros(shape, bool)
    planted[cell] = True
    assert all(planted[d.position] for d in e.dims)  # every value named lies in the planted cell


def test_a_token_frame_names_the_changed_block():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 16, (8, 8))
    near = np.stack([np.where(rng.random((8, 8)) < 0.1, rng.integers(0, 16, (8, 8)), base) for _ in range(10)])
    x = base.copy()
    x[0:2, 6:8] = (base[0:2, 6:8] + 1) % 16  # every neighbour holds another token there
    e = explain(x, near, (8, 8), discrete=True, grid=4)
    assert e.basis == "tokens" and e.cells.hottest() == (0, 3)
    assert {d.position for d in e.dims[:4]} == {(0, 6), (0, 7), (1, 6), (1, 7)} and e.dims[0].z == 1.0
    assert e.dims[0].mean == base[e.dims[0].position]  # the neighbours' most common token


def test_no_neighbours_explain_nothing_and_shapes_must_agree():
    e = explain(np.ones(6), np.zeros((0, 6)), (2, 3))
    assert e.dims == () and e.cells is None and e.to_json()["cells"] is None
    with pytest.raises(ValueError, match="holds"):
        explain(np.ones(6), np.zeros((2, 6)), (2, 4))
    same = explain(np.ones(6), np.ones((3, 6)), (2, 3))  # equal to its neighbours: every z is 0, none is NaN
    assert all(d.z == 0.0 for d in same.dims) and max(same.cells.values) == 0.0
