"""Which ids (snapshot, index) point at which points (rows) of a population, and in which world. Pure.

Several ids may hold the same vector (a state saved twice, a frame repeated): they share one point. Ids are
kept in the order they were added, so "the first id of a point" is its discoverer.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from multiverse.errors import NotFound


class Registry:
    def __init__(self) -> None:
        self.snapshots: list[str] = []
        self.snap_world: list[int] = []
        self.worlds: list[str] = []
        self._snap_ix: dict[str, int] = {}
        self._world_ix: dict[str, int] = {}
        self._by_snap: dict[int, np.ndarray] = {}  # snapshot -> its key positions
        self.key_row = np.zeros(0, dtype=np.int64)
        self.key_snap = np.zeros(0, dtype=np.int32)
        self.key_index = np.zeros(0, dtype=np.int32)
        self.key_alive = np.zeros(0, dtype=bool)
        self.n_keys = 0
        self.first = np.zeros(0, dtype=np.int64)  # per row: its first alive key position (-1: none)
        self.count = np.zeros(0, dtype=np.int64)  # per row: its alive keys
        self._cache: dict[object, np.ndarray] = {}

    def has_snapshot(self, snapshot: str) -> bool:
        return snapshot in self._snap_ix and bool(self.key_alive[self._by_snap[self._snap_ix[snapshot]]].any())

    def add(self, snapshot: str, world: str, indices: np.ndarray, rows: np.ndarray) -> None:
        """Register ids (snapshot, indices[i]) -> rows[i] in ``world``."""
        wid = self._world_ix.setdefault(world, len(self.worlds))
        if wid == len(self.worlds):
            self.worlds.append(world)
        sid = self._snap_ix.setdefault(snapshot, len(self.snapshots))
        if sid == len(self.snapshots):
            self.snapshots.append(snapshot)
            self.snap_world.append(wid)
        self.snap_world[sid] = wid
        n = len(rows)
        self._reserve(self.n_keys + n)
        pos = np.arange(self.n_keys, self.n_keys + n)
        self.key_row[pos], self.key_snap[pos], self.key_index[pos], self.key_alive[pos] = rows, sid, indices, True
        self.n_keys += n
        self._reserve_rows(int(rows.max()) + 1 if n else 0)
        np.add.at(self.count, rows, 1)
        unseen = self.first[rows] < 0
        first_pos = np.full(len(self.first), np.iinfo(np.int64).max)
        np.minimum.at(first_pos, rows[unseen], pos[unseen])
        fill = first_pos < np.iinfo(np.int64).max
        self.first[fill] = first_pos[fill]
        self._by_snap[sid] = np.concatenate([self._by_snap.get(sid, pos[:0]), pos])
        self._cache.clear()

    def _reserve(self, n: int) -> None:
        if n > len(self.key_row):
            cap = max(n, 2 * len(self.key_row), 1024)
            for name in ("key_row", "key_snap", "key_index", "key_alive"):
                old = getattr(self, name)
                new = np.zeros(cap, dtype=old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)

    def _reserve_rows(self, n: int) -> None:
        if n > len(self.first):
            cap = max(n, 2 * len(self.first), 1024)
            self.first = np.concatenate([self.first, np.full(cap - len(self.first), -1, dtype=np.int64)])
            self.count = np.concatenate([self.count, np.zeros(cap - len(self.count), dtype=np.int64)])

    def snapshot_keys(self, snapshot: str) -> np.ndarray:
        """Alive key positions of ``snapshot`` (empty when unknown)."""
        sid = self._snap_ix.get(snapshot)
        if sid is None:
            return np.zeros(0, dtype=np.int64)
        pos = self._by_snap[sid]
        return pos[self.key_alive[pos]]

    def row_of(self, snapshot: str, index: int, kind: str) -> tuple[int, int]:
        """(row, key position) of id (snapshot, kind, index); NotFound when no such id is indexed."""
        pos = self.snapshot_keys(snapshot)
        hit = pos[self.key_index[pos] == index]
        if not len(hit):
            raise NotFound(
                f"no {kind} vector {index} of snapshot {snapshot} in the rarity index: "
                "add the snapshot first, or check the snapshot id, kind and index"
            )
        return int(self.key_row[hit[0]]), int(hit[0])

    def remove_snapshot(self, snapshot: str) -> np.ndarray:
        """Drop the ids of ``snapshot``; returns the rows they pointed at."""
        pos = self.snapshot_keys(snapshot)
        self.key_alive[pos] = False
        rows = np.unique(self.key_row[pos])
        np.subtract.at(self.count, self.key_row[pos], 1)
        self._refirst(rows)
        self._cache.clear()
        return rows

    def _refirst(self, rows: np.ndarray) -> None:
        """Recompute ``first`` for ``rows`` from the alive keys."""
        self.first[rows] = -1
        alive = self._alive()
        pos = alive[np.isin(self.key_row[alive], rows)]
        hit, at = np.unique(self.key_row[pos], return_index=True)
        self.first[hit] = pos[at]

    def world_filter(self, world: str | Collection[str] | None) -> int | tuple[int, ...] | None:
        """``first_keys``'s filter for a world name (NotFound when it has no vectors here), a collection of names
        (those without vectors here are left out), or None (every world)."""
        if world is None or isinstance(world, str):
            return None if world is None else self.world_id(world)
        return tuple(sorted({self._world_ix[w] for w in world if w in self._world_ix}))

    def world_id(self, world: str) -> int:
        wid = self._world_ix.get(world)
        if wid is None:
            raise NotFound(f"world {world!r} has no vectors in this rarity index")
        return wid

    def _alive(self) -> np.ndarray:
        return np.flatnonzero(self.key_alive[: self.n_keys])

    def copies(self, n_rows: int) -> np.ndarray:
        """Alive ids per row, (n_rows,)."""
        self._reserve_rows(n_rows)
        return self.count[:n_rows]

    def first_keys(self, n_rows: int, world: int | tuple[int, ...] | None = None) -> np.ndarray:
        """For each row, the position of its first alive id (in ``world``, or any of a tuple of worlds, when
        given), -1 where none."""
        self._reserve_rows(n_rows)
        if world is None:
            return self.first[:n_rows]
        key = ("first", n_rows, world)
        if key not in self._cache:
            pos = self._alive()
            pos = pos[np.isin(np.asarray(self.snap_world, dtype=np.int32)[self.key_snap[pos]], world)]
            first = np.full(n_rows, -1, dtype=np.int64)
            rows, at = np.unique(self.key_row[pos], return_index=True)  # pos is ascending: first = discoverer
            first[rows] = pos[at]
            self._cache[key] = first
        return self._cache[key]

    def describe_key(self, pos: int) -> tuple[str, int, str]:
        """(snapshot, index, world) of a key position."""
        sid = int(self.key_snap[pos])
        return self.snapshots[sid], int(self.key_index[pos]), self.worlds[self.snap_world[sid]]

    def remap(self, new_row: np.ndarray) -> None:
        """Rows were renumbered (a compacting rebuild): ``new_row[old]`` is each old row's new number."""
        n = self.n_keys
        self.key_row[:n] = np.where(self.key_alive[:n], new_row[self.key_row[:n]], -1)
        self.first = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0, dtype=np.int64)
        self._reserve_rows(int(self.key_row[:n].max(initial=-1)) + 1)
        alive = self._alive()
        np.add.at(self.count, self.key_row[alive], 1)
        rows, at = np.unique(self.key_row[alive], return_index=True)
        self.first[rows] = alive[at]
        self._cache.clear()

    # persistence -------------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        n = self.n_keys
        return {
            "key_row": self.key_row[:n].copy(),
            "key_snap": self.key_snap[:n].copy(),
            "key_index": self.key_index[:n].copy(),
            "key_alive": self.key_alive[:n].astype(np.uint8),
        }

    def names(self) -> dict:
        return {"snapshots": self.snapshots, "snapshot_world": self.snap_world, "worlds": self.worlds}

    @classmethod
    def restore(cls, names: dict, arrays: dict[str, np.ndarray]) -> Registry:
        reg = cls()
        reg.snapshots = [str(s) for s in names["snapshots"]]
        reg.snap_world = [int(w) for w in names["snapshot_world"]]
        reg.worlds = [str(w) for w in names["worlds"]]
        reg._snap_ix = {s: i for i, s in enumerate(reg.snapshots)}
        reg._world_ix = {w: i for i, w in enumerate(reg.worlds)}
        n = len(arrays["key_row"])
        reg._reserve(n)
        reg.key_row[:n] = arrays["key_row"]
        reg.key_snap[:n] = arrays["key_snap"]
        reg.key_index[:n] = arrays["key_index"]
        reg.key_alive[:n] = arrays["key_alive"].astype(bool)
        reg.n_keys = n
        order = np.argsort(reg.key_snap[:n], kind="stable")
        sids, starts = np.unique(reg.key_snap[:n][order], return_index=True)
        for sid, part in zip(sids.tolist(), np.split(order, starts[1:])):
            reg._by_snap[int(sid)] = part.astype(np.int64)
        reg.remap(np.arange(int(reg.key_row[:n].max(initial=-1)) + 2, dtype=np.int64))
        return reg
