"""The generation-ordered walks, checked against brute force on random DAGs (no database)."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from multiverse.metadata import walk


@st.composite
def dags(draw):
    """A random snapshot DAG: node i's parents are drawn from nodes before it. Returns (parents, generation)."""
    n = draw(st.integers(1, 24))
    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:6] for i in range(n)]  # shuffles the id order
    parents: dict[str, list[str]] = {}
    generation: dict[str, int] = {}
    for i, sid in enumerate(ids):
        chosen = draw(st.lists(st.sampled_from(ids[:i]), max_size=3, unique=True)) if i else []
        parents[sid] = chosen
        generation[sid] = 1 + max((generation[p] for p in chosen), default=0)
    return parents, generation


def fetcher(parents, generation, calls=None):
    def parents_of(ids):
        if calls is not None:
            calls.append(list(ids))
        return {sid: [(generation[p], p) for p in parents[sid]] for sid in ids}

    return parents_of


def ancestors(parents, sid):
    seen, todo = set(), [sid]
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo += parents[s]
    return seen


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_ancestors_come_newest_generation_first_each_once_and_page_cleanly(dag, data):
    parents, generation = dag
    start = data.draw(st.sampled_from(sorted(parents)))
    limit = data.draw(st.integers(1, 8))
    want = sorted(ancestors(parents, start), key=lambda s: (-generation[s], s))
    got, frontier = [], [(generation[start], start)]
    while frontier:
        calls: list[list[str]] = []
        page, frontier = walk.ancestors(frontier, fetcher(parents, generation, calls), limit)
        assert 0 < len(page) <= limit and len(calls) <= len(page)
        got += [sid for _, sid in page]
    assert got == want


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_merge_bases_are_the_common_ancestors_no_other_one_descends_from(dag, data):
    parents, generation = dag
    a = data.draw(st.sampled_from(sorted(parents)))
    b = data.draw(st.sampled_from(sorted(parents)))
    common = ancestors(parents, a) & ancestors(parents, b)
    lowest = {c for c in common if not any(c != d and c in ancestors(parents, d) for d in common)}
    got = walk.merge_bases((generation[a], a), (generation[b], b), fetcher(parents, generation))
    assert got == sorted(lowest, key=lambda s: (-generation[s], s))
