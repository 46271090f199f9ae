"""SqlMetadata keeps the Metadata port's promises: same methods, same signatures; in-memory SQLite works too."""

from __future__ import annotations

import inspect
import threading

import pytest

from multiverse.errors import NotFound
from multiverse.metadata import Metadata, SqlMetadata, open_metadata
from tests.metadata.factory import SPACE, snap, world


def test_sql_metadata_has_every_port_method_with_its_signature():
    port = {n: f for n, f in vars(Metadata).items() if callable(f) and not n.startswith("_")}
    assert port
    for name, method in port.items():
        ours = getattr(SqlMetadata, name)
        assert inspect.signature(ours) == inspect.signature(method), name


def test_in_memory_sqlite_serves_many_threads():
    with open_metadata("sqlite://") as meta:
        meta.put_space(SPACE)
        meta.create_world(world("w"))
        root = snap(t=1.0)
        meta.commit_snapshot(root, head="main", expected=None)
        errors: list[Exception] = []

        def work(n: int) -> None:
            try:
                meta.commit_snapshot(snap(parents=[root], t=2.0, n=n), head=f"h{n}", expected=None)
                assert meta.get_snapshot(root.id) == root
            except Exception as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(meta.heads("w")) == 9


def test_rarity_index_pointers(meta):
    """Each space's rarity index pointer: set, moved (returning what it pointed at), read; only for a space that is
    registered. Runs on SQLite and PostgreSQL."""
    assert meta.rarity_manifests() == {}
    with pytest.raises(NotFound):
        meta.point_rarity_index("nowhere", "a" * 64, 1.0)
    meta.put_space(SPACE)
    assert meta.point_rarity_index(SPACE.name, "a" * 64, 1.0) is None
    assert meta.point_rarity_index(SPACE.name, "b" * 64, 2.0) == "a" * 64
    assert meta.point_rarity_index(SPACE.name, "b" * 64, 3.0) == "b" * 64
    assert meta.rarity_manifests() == {SPACE.name: "b" * 64}
