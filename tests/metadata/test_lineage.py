"""Lineage reads: prefix lookup, the paged log across worlds, and merge bases (lowest common ancestors)."""

from __future__ import annotations

import pytest

from multiverse.errors import InvalidArgument, NotFound
from tests.metadata.factory import snap, world


def save(meta, record, head="main"):
    meta.commit_snapshot(record, head=head, expected=meta.get_head(record.world, head))
    return record


@pytest.fixture
def dag(meta_w):
    """Two worlds; lowercase names are snapshots, generations in brackets.

    w@main:  r[1] - a1[2] - a2[3] - m[4] = merge(a2, b2)    w@x: x = (a1, b1)[3]    w@y: y = (b1, a1)[3]
                \\                  /
    w@b:         b1[2] --- b2[3] -+                        v@main: f1 = fork of a1 [3] - f2[4]
    w@u:  u[1] (unrelated root)
    """
    meta_w.create_world(world("v"))
    r = save(meta_w, snap(t=1.0))
    a1 = save(meta_w, snap(parents=[r], t=2.0))
    a2 = save(meta_w, snap(parents=[a1], t=3.0))
    b1 = save(meta_w, snap(parents=[r], t=2.5), "b")
    b2 = save(meta_w, snap(parents=[b1], t=3.5), "b")
    m = save(meta_w, snap(parents=[a2, b2], t=4.0))
    x = save(meta_w, snap(parents=[a1, b1], t=5.0), "x")
    y = save(meta_w, snap(parents=[b1, a1], t=5.0), "y")
    u = save(meta_w, snap(t=6.0), "u")
    f1 = save(meta_w, snap("v", parents=[a1], t=7.0))
    f2 = save(meta_w, snap("v", parents=[f1], t=8.0))
    nodes = {
        "r": r,
        "a1": a1,
        "a2": a2,
        "b1": b1,
        "b2": b2,
        "m": m,
        "x": x,
        "y": y,
        "u": u,
        "f1": f1,
        "f2": f2,
    }
    return meta_w, nodes


def expected_log(nodes, *names):
    records = [nodes[n] for n in names]
    return sorted(records, key=lambda s: (-s.generation, s.id))


def test_log_walks_ancestors_newest_generation_first(dag):
    meta, n = dag
    page, cursor = meta.log(n["m"].id)
    assert page == expected_log(n, "m", "a2", "b2", "a1", "b1", "r")
    assert cursor == ""


def test_log_crosses_worlds(dag):
    meta, n = dag
    page, _ = meta.log(n["f2"].id)
    assert [s.id for s in page] == [s.id for s in expected_log(n, "f2", "f1", "a1", "r")]
    assert {s.world for s in page} == {"v", "w"}


def test_log_pages_join_to_the_whole_log(dag):
    meta, n = dag
    whole, _ = meta.log(n["m"].id, limit=100)
    for limit in (1, 2, 4, 5, 6):
        pages, cursor = [], ""
        while True:
            page, cursor = meta.log(n["m"].id, limit=limit, cursor=cursor)
            assert 0 < len(page) <= limit
            pages.append(page)
            if not cursor:
                break
        assert [s for p in pages for s in p] == whole, f"limit={limit}"
        assert len(pages) == -(-len(whole) // limit), f"limit={limit}"


def test_log_accepts_a_prefix(dag):
    meta, n = dag
    assert meta.log(n["a2"].id[:10])[0] == expected_log(n, "a2", "a1", "r")


def test_log_rejects_foreign_and_broken_cursors(dag):
    meta, n = dag
    _, cursor = meta.log(n["m"].id, limit=2)
    with pytest.raises(InvalidArgument, match="same start") as err:
        meta.log(n["a2"].id, cursor=cursor)
    assert err.value.field == "cursor"
    for broken in ("garbage!", cursor[:-4], "eyJ2IjoxfQ=="):
        with pytest.raises(InvalidArgument) as err:
            meta.log(n["m"].id, cursor=broken)
        assert err.value.field == "cursor"
    with pytest.raises(InvalidArgument, match="limit"):
        meta.log(n["m"].id, limit=0)


def test_log_of_unknown_snapshot_is_not_found(meta_w):
    with pytest.raises(NotFound):
        meta_w.log("ab" * 32)


def test_get_snapshot_by_unique_prefix(dag):
    meta, n = dag
    sid = n["a2"].id
    for given in (sid, sid[:8], sid[:20], sid[:12].upper()):
        assert meta.get_snapshot(given) == n["a2"]


def test_prefix_errors(meta_w):
    # Two roots whose ids share their first 8 hex characters (found by search; checked here).
    one, two = snap(t=31063.0), snap(t=38952.0)
    assert one.id[:8] == two.id[:8] != one.id[:9]
    save(meta_w, one)
    save(meta_w, two, "other")
    with pytest.raises(InvalidArgument, match="ambiguous") as err:
        meta_w.get_snapshot(one.id[:8])
    assert err.value.field == "snapshot_id" and one.id in err.value.message and two.id in err.value.message
    assert meta_w.get_snapshot(one.id[:12]) == one
    for bad in ("", "abc", "1234567", "xyz12345678", "g" * 64, "a" * 65):
        with pytest.raises(InvalidArgument, match="at least 8"):
            meta_w.get_snapshot(bad)
    with pytest.raises(NotFound):
        meta_w.get_snapshot("0123456789abcdef")
    with pytest.raises(NotFound):
        meta_w.get_snapshot("f" * 64)


MERGE_BASES = [  # (a, b, their merge bases)
    ("a2", "b2", ["r"]),  # a fork: the root
    ("m", "a1", ["a1"]),  # an ancestor is its own merge base
    ("a1", "m", ["a1"]),
    ("m", "m", ["m"]),
    ("m", "b2", ["b2"]),
    ("x", "y", ["a1", "b1"]),  # criss-cross: two bases (same generation, by id)
    ("x", "m", ["a1", "b1"]),
    ("f2", "a2", ["a1"]),  # across worlds
    ("f2", "b2", ["r"]),
    ("u", "m", []),  # unrelated roots
]


def test_lowest_common_ancestors(dag):
    meta, n = dag
    for a, b, bases in MERGE_BASES:
        want = sorted((n[name] for name in bases), key=lambda s: (-s.generation, s.id))
        assert meta.lowest_common_ancestors(n[a].id, n[b].id) == [s.id for s in want], (a, b)


def test_lowest_common_ancestors_of_unknown_snapshot_is_not_found(dag):
    meta, n = dag
    with pytest.raises(NotFound):
        meta.lowest_common_ancestors(n["m"].id, "cd" * 32)
