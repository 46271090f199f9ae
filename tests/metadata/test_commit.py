"""commit_snapshot: the compare-and-swap of heads, idempotency keys, lineage checks, and no lost updates."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from multiverse.errors import HeadMoved, InvalidArgument, NotFound
from tests.metadata.factory import snap


def test_first_save_then_save_on_top(meta_w):
    root = snap(t=1.0, operator="spawn", params={"alpha": 0.5, "ks": [1, 2]}, seed=7, note="日本")
    assert meta_w.commit_snapshot(root, head="main", expected=None) == (root, True)
    child = snap(parents=[root], t=2.0)
    assert meta_w.commit_snapshot(child, head="main", expected=root.id) == (child, True)
    assert meta_w.get_head("w", "main") == child.id
    assert meta_w.heads("w") == {"main": child.id}
    got = meta_w.get_snapshot(root.id)
    assert got == root and isinstance(got.parents, tuple) and got.provenance["params"]["ks"] == [1, 2]
    assert meta_w.get_snapshot(child.id).parents == (root.id,)


def test_stale_expected_raises_head_moved_with_the_current_head(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    a = snap(parents=[root], t=2.0)
    meta_w.commit_snapshot(a, head="main", expected=root.id)
    b = snap(parents=[root], t=3.0)
    with pytest.raises(HeadMoved) as err:
        meta_w.commit_snapshot(b, head="main", expected=root.id)
    assert err.value.details["current_head"] == a.id
    assert err.value.current == a.id
    assert meta_w.get_head("w", "main") == a.id
    with pytest.raises(NotFound):  # the loser's record was rolled back with the failed swap
        meta_w.get_snapshot(b.id)


def test_expected_none_on_an_existing_head_raises_head_moved(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    with pytest.raises(HeadMoved) as err:
        meta_w.commit_snapshot(snap(t=2.0), head="main", expected=None)
    assert err.value.details["current_head"] == root.id


def test_expected_set_on_a_missing_head_raises_head_moved(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    with pytest.raises(HeadMoved) as err:
        meta_w.commit_snapshot(snap(parents=[root], t=2.0), head="side", expected=root.id)
    assert err.value.details["current_head"] == ""
    assert meta_w.heads("w") == {"main": root.id}


def test_heads_are_independent_and_share_snapshots(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    assert meta_w.commit_snapshot(root, head="experiment", expected=None) == (root, True)
    side = snap(parents=[root], t=2.0)
    meta_w.commit_snapshot(side, head="experiment", expected=root.id)
    assert meta_w.heads("w") == {"experiment": side.id, "main": root.id}
    assert meta_w.get_head("w", "nope") is None


def test_head_queries_on_unknown_world_are_not_found(meta_w):
    with pytest.raises(NotFound, match="world 'nope'"):
        meta_w.get_head("nope", "main")
    with pytest.raises(NotFound):
        meta_w.heads("nope")


def test_save_into_unknown_world_is_not_found(meta_w):
    with pytest.raises(NotFound, match="world 'nope'"):
        meta_w.commit_snapshot(snap("nope"), head="main", expected=None)


def test_unknown_parent_is_not_found(meta_w):
    ghost = snap(t=0.5)  # never saved
    with pytest.raises(NotFound, match=ghost.id):
        meta_w.commit_snapshot(snap(parents=[ghost], t=1.0), head="main", expected=None)
    assert meta_w.get_head("w", "main") is None


@pytest.mark.parametrize("generation", [1, 3])
def test_wrong_generation_is_invalid(meta_w, generation):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    bad = snap(parents=[root], t=2.0, generation=generation)
    with pytest.raises(InvalidArgument) as err:
        meta_w.commit_snapshot(bad, head="main", expected=root.id)
    assert err.value.field == "generation" and "set it to 2" in err.value.message
    assert meta_w.get_head("w", "main") == root.id


def test_generation_follows_the_largest_parent(meta_w):
    a1 = snap(t=1.0)
    a2 = snap(parents=[a1], t=2.0)
    a3 = snap(parents=[a2], t=3.0)
    b1 = snap(t=4.0)
    for expected, s in zip([None, a1.id, a2.id], [a1, a2, a3]):
        meta_w.commit_snapshot(s, head="main", expected=expected)
    meta_w.commit_snapshot(b1, head="b", expected=None)
    merged = snap(parents=[b1, a3], t=5.0)
    assert merged.generation == 4
    meta_w.commit_snapshot(merged, head="b", expected=b1.id)
    assert meta_w.get_snapshot(merged.id).parents == (b1.id, a3.id)  # parent order is kept


def test_id_must_be_the_hash_of_the_record(meta_w):
    good = snap(t=1.0)
    with pytest.raises(InvalidArgument) as err:
        meta_w.commit_snapshot(replace(good, frame_count=99), head="main", expected=None)
    assert err.value.field == "id" and replace(good, frame_count=99).sealed().id in err.value.message


def test_parents_must_be_distinct(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    with pytest.raises(InvalidArgument) as err:
        meta_w.commit_snapshot(snap(parents=[root, root], t=2.0), head="main", expected=root.id)
    assert err.value.field == "parents"


def test_idempotency_key_replays_the_first_save_and_leaves_the_head(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    first = snap(parents=[root], t=2.0)
    assert meta_w.commit_snapshot(
        first, head="main", expected=root.id, idempotency_key="save-1", principal="p"
    ) == (
        first,
        True,
    )
    later = snap(parents=[first], t=3.0)
    meta_w.commit_snapshot(later, head="main", expected=first.id)
    # The retry carries a fresh record (new created_at, so a new id) and a now-stale expected: still a replay.
    retry = snap(parents=[root], t=9.0)
    assert meta_w.commit_snapshot(
        retry, head="main", expected=root.id, idempotency_key="save-1", principal="p"
    ) == (
        first,
        False,
    )
    assert meta_w.get_head("w", "main") == later.id
    with pytest.raises(NotFound):
        meta_w.get_snapshot(retry.id)


def test_idempotency_keys_are_scoped_by_principal(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None, idempotency_key="k", principal="p1")
    other = snap(parents=[root], t=2.0)
    assert meta_w.commit_snapshot(
        other, head="main", expected=root.id, idempotency_key="k", principal="p2"
    ) == (
        other,
        True,
    )


def test_failed_save_does_not_burn_its_idempotency_key(meta_w):
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None)
    with pytest.raises(HeadMoved):
        meta_w.commit_snapshot(snap(t=2.0), head="main", expected=None, idempotency_key="k", principal="p")
    fixed = snap(parents=[root], t=3.0)
    assert meta_w.commit_snapshot(
        fixed, head="main", expected=root.id, idempotency_key="k", principal="p"
    ) == (
        fixed,
        True,
    )


def test_snapshots_with_state(meta_w):
    a = snap(t=2.0, state="aa" * 32)
    b = snap(parents=[a], t=1.0, state="aa" * 32)
    c = snap(parents=[b], t=3.0, state="cc" * 32)
    for expected, s in zip([None, a.id, b.id], [a, b, c]):
        meta_w.commit_snapshot(s, head="main", expected=expected)
    assert meta_w.snapshots_with_state("aa" * 32) == [b, a]  # oldest first
    assert meta_w.snapshots_with_state("dd" * 32) == []


WRITERS, SAVES_EACH = 4, 6


def test_concurrent_writers_lose_no_update(meta_w):
    """Writers race on one head, each in a read-head / save / retry-on-HeadMoved loop. Every acknowledged
    save must end up on one linear chain from the final head: nothing overwritten, nothing forked."""
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    conflicts = [0]
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(SAVES_EACH):
                while True:
                    head = meta_w.get_head("w", "main")
                    parents = [meta_w.get_snapshot(head)] if head else []
                    record = snap(parents=parents, t=float(i), writer=n)
                    try:
                        meta_w.commit_snapshot(record, head="main", expected=head)
                    except HeadMoved:
                        conflicts[0] += 1
                        continue
                    acknowledged.append(record.id)
                    break
        except Exception as exc:  # noqa: BLE001 - surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    chain = []
    sid = meta_w.get_head("w", "main")
    while sid:
        record = meta_w.get_snapshot(sid)
        chain.append(record)
        assert len(record.parents) <= 1
        sid = record.parents[0] if record.parents else None
    assert sorted(r.id for r in chain) == sorted(acknowledged)
    assert len(acknowledged) == WRITERS * SAVES_EACH
    assert [r.generation for r in chain] == list(range(len(chain), 0, -1))


def test_discoveries_are_inserted_once_and_a_rolled_back_commit_is_not_taken_for_recorded(meta_w, monkeypatch):
    import sqlalchemy as sa

    from multiverse.metadata import _discoveries
    from multiverse.metadata.models import vector_discoveries as d

    def holders() -> dict[str, str]:
        with meta_w.transaction() as conn:
            return dict(conn.execute(sa.select(d.c.vector, d.c.snapshot)).all())

    old, new = [("a" * 64, "frame", 0)], [("b" * 64, "frame", 1)]
    root = snap(t=1.0)
    meta_w.commit_snapshot(root, head="main", expected=None, vectors=old)
    lost = snap(parents=[root], t=2.0)
    with pytest.raises(HeadMoved):  # its vectors' rows rolled back with it
        meta_w.commit_snapshot(lost, head="main", expected="f" * 64, vectors=old + new)
    assert holders() == {"a" * 64: root.id}
    child = snap(parents=[root], t=3.0)
    inserted: list[list[str]] = []
    real = _discoveries.record
    monkeypatch.setattr(_discoveries, "record", lambda conn, insert, snapshot, vectors:
                        inserted.append([v for v, _, _ in vectors]) or real(conn, insert, snapshot, vectors))
    meta_w.commit_snapshot(child, head="main", expected=root.id, vectors=old + new)
    assert inserted == [["b" * 64]]  # "a" is known committed; "b", whose commit rolled back, is inserted
    assert holders() == {"a" * 64: root.id, "b" * 64: child.id}


def test_sqlite_connections_run_with_secure_delete_fast(tmp_path):
    """secure_delete=FAST (multiverse/metadata/_engine.py): a DELETE of inline packs does not overwrite the freed
    overflow pages inside the write lock; deleted records are still zeroed where they lie (SQLite's promise)."""
    from multiverse.metadata import open_metadata

    with open_metadata(f"sqlite:///{tmp_path / 'm.db'}") as meta, meta.transaction() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 2  # FAST
