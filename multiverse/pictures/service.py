"""The picture of every vector, rendered once: ``Pictures.get(who, snapshot, kind, index)``.

A frame of a space whose decoder is registered (decoders.py) is drawn by it; a player vector, and a frame of a
space without one, as a chart (chart.py) of its place among the space's vectors (projection.py) with its
nearest neighbours, and its values. The vector is read by ranged reads of its snapshot's state (its header, then
that row), and only for a caller who may read the snapshot's world: for anyone else a picture of a private world
is NotFound in the words used for no such snapshot (multiverse.store.visibility), so a picture cannot probe which
snapshots exist. The check runs on every request, cached or not, so a world made private stops showing at once.

What a picture shows does not depend on who asks (it is kept and served to everyone): the neighbours drawn are
those of public worlds, as the public sees them; the backdrop is an anonymous sample of the whole space, like
the rarity service's Stats (figures over the whole space that name no stored vector).

A picture is kept in the blob store under its sha256 (its ETag) with a pointer from its path (cache.Pointers),
and in an LRU of hot bytes; a per-path lock makes concurrent first requests render once. A chart drawn before the
space's rarity index holds the vector (scored a moment after its save) has no plane: it is served but not kept
(``final`` False), and drawn again on the next request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multiverse.errors import MultiverseError, NotFound
from multiverse.pictures.cache import HotBytes, KeyLocks, Pointers
from multiverse.pictures.chart import chart_png
from multiverse.pictures.decoders import DECODERS, decode_frame
from multiverse.pictures.paths import check_ref, picture_path
from multiverse.pictures.projection import Plane, View, even_sample, fit_plane, place
from multiverse.rarity.types import VectorId
from multiverse.state.read import read_header, read_row
from multiverse.store.auth import Principal
from multiverse.store.store import Store

TENSOR = {"frame": "frames", "player": "players"}  # vector kind -> the state's tensor
HOT_BYTES = 64 << 20  # the LRU of served PNGs holds at most this many bytes
NEIGHBOURS = 8  # nearest neighbours drawn on a chart
PLANES = 16  # fitted planes kept (one per space, kind and index version)
log = logging.getLogger("multiverse.pictures")


@dataclass(frozen=True)
class Picture:
    """A PNG and its sha256 (hex, the ETag). ``final``: kept and never redrawn (immutable caching applies);
    False for a chart drawn before the rarity index held its vector (served, not kept: cache it briefly)."""

    png: bytes
    etag: str
    final: bool = True


class Pictures:
    """Pictures of the vectors in ``store`` (``rarity``: the RarityService whose index places a vector among its
    space's, or None: charts without a plane), pointers kept under ``pointers_dir``."""

    def __init__(self, store: Store, rarity: Any, pointers_dir: Path, *, hot_bytes: int = HOT_BYTES) -> None:
        self.store, self.rarity = store, rarity
        self.pointers = Pointers(pointers_dir)
        self.hot = HotBytes(hot_bytes)
        self.locks = KeyLocks()
        self.renders = 0  # pictures drawn since start (each one a cache miss)
        self._planes: dict[tuple[str, str, str], Plane] = {}
        self._planes_lock = threading.Lock()

    @classmethod
    def of_app(cls, app: Any) -> Pictures:
        """The pictures of an ``multiverse.app.App``: pointers under ``<data dir>/pictures``."""
        return cls(app.store, app.rarity, Path(app.settings.data_dir) / "pictures")

    def get(self, who: Principal, snapshot: str, kind: str, index: str | int) -> Picture:
        """The picture of row ``index`` of kind ``kind`` of ``snapshot``, for ``who``: InvalidArgument naming a
        malformed part; NotFound when there is no such snapshot or row, or ``who`` may not read its world."""
        snapshot, kind, index = check_ref(snapshot, kind, index)
        record = self.store.resolve(snapshot, who)  # NotFound, as for none, unless who may read its world
        key = picture_path(snapshot, kind, index)
        hot = self.hot.get(key)
        if hot is not None:
            return Picture(*hot)
        with self.locks.hold(key):
            found = self._kept(key)
            if found is None:
                found = self._render(record, kind, index)
                if found.final:
                    self.store.blobs.put_bytes(found.png)
                    self.pointers.put(key, found.etag)
            if found.final:
                self.hot.put(key, found.png, found.etag)
            return found

    def render(self, snapshot: str, kind: str, index: int) -> Picture:
        """Draw the picture afresh (no cache, no visibility check: for callers that checked, and tests)."""
        snapshot, kind, index = check_ref(snapshot, kind, index)
        return self._render(self.store.meta.get_snapshot(snapshot), kind, index)

    def _kept(self, key: str) -> Picture | None:
        digest = self.pointers.get(key)
        if digest is None or not self.store.blobs.exists(digest):
            return None
        png = self.store.blobs.read(digest)  # verified against its digest
        return Picture(png, digest)

    def _render(self, record: Any, kind: str, index: int) -> Picture:
        self.renders += 1
        # a kept snapshot of a deleted world (a token's, a kept cross's input) still shows
        space = self.store.get_space(self.store.meta.get_world(record.world, deleted=True).space)
        header = read_header(self.store.blobs, record.state, record.state_size)
        row = read_row(self.store.blobs, record.state, header, TENSOR[kind], index)  # NotFound past the last row
        values = _values(row.tensor.dtype.name, row.tensor.shape[1:], row.raw)
        if kind == "frame" and space.decoder in DECODERS:
            try:
                png = decode_frame(space.decoder, values)
                return Picture(png, hashlib.sha256(png).hexdigest())
            except MultiverseError as exc:  # a decoder that refuses this space's frames (shape, dtype): its chart
                log.warning("decoder %r cannot draw frames of space %r (%s): drawing charts", space.decoder,
                            space.name, exc.message)
        view = self._view(space.name, kind, record.id, index)
        png = chart_png(values, view)
        return Picture(png, hashlib.sha256(png).hexdigest(), view is not None or self.rarity is None)

    def _view(self, space: str, kind: str, snapshot: str, index: int) -> View | None:
        """The vector's place among its space's vectors, or None while the rarity index does not hold it."""
        if self.rarity is None:
            return None
        try:
            engine = self.rarity.engine(space)
            pop = engine.population(kind)
            here = pop.x[pop.registry.row_of(snapshot, index, kind)[0]].copy()
            public = self.store.meta.readable_worlds("")  # "" reads as the public does (auth.reader_name)
            near = engine.neighbors(VectorId(snapshot, kind, index), NEIGHBOURS, world=public)
            rows = [pop.registry.row_of(n.id.snapshot, n.id.index, n.id.kind)[0] for n in near]
            neighbours = pop.x[rows].copy() if rows else np.zeros((0, pop.dim), np.float32)
            plane = self._plane(space, kind, pop)
        except (NotFound, IndexError):  # not indexed yet (scored just after its save), or the index moved meanwhile
            return None
        return place(plane, here, neighbours)

    def _plane(self, space: str, kind: str, pop: Any) -> Plane:
        """The plane of a sample of the population, fitted once per index version (the same population, the same
        plane, the same pictures)."""
        key = (space, kind, pop.index_version)
        with self._planes_lock:
            plane = self._planes.get(key)
        if plane is not None:
            return plane
        # Rows are only ever appended or marked dead between versions; read the count before the arrays, so that
        # every row counted is in the arrays read (a grown array holds the old rows too).
        n = pop.n_rows
        x, alive = pop.x, pop.alive
        rows = even_sample(np.flatnonzero(alive[: min(n, len(x), len(alive))]))
        plane = fit_plane(x[rows])
        with self._planes_lock:
            if len(self._planes) >= PLANES:
                self._planes.pop(next(iter(self._planes)))
            self._planes[key] = plane
        return plane


def _values(dtype: str, shape: tuple[int, ...], raw: bytes) -> np.ndarray:
    """A row's values as float32 in ``shape``, from its raw bytes of torch dtype ``dtype`` (bfloat16 included)."""
    t = torch.frombuffer(bytearray(raw), dtype=getattr(torch, dtype)) if raw else torch.zeros(0)
    return t.float().reshape(shape).numpy()
