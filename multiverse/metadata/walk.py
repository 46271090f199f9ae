"""Generation-ordered walks over the snapshot DAG: pure functions, no database.

A node is ``(generation, id)``. Generations strictly decrease from child to parent (a child's is 1 + the
largest of its parents'), so popping the newest generation first is a topological order: when a node is
popped, every child of it that the walk will ever reach has been popped already. Hence each node is seen
once, the flags a node carries are final when it is popped, and walks can stop early (git's commit-graph
generation numbers, lakeFS's merge-base finder).

``parents_of(ids)`` is the only I/O: it maps each asked id to its parents as nodes (ids without parents may be
left out); the caller batches it into one query.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence

Node = tuple[int, str]  # (generation, snapshot id)
ParentsOf = Callable[[list[str]], Mapping[str, Sequence[Node]]]


class _Queue:
    """Max-heap by generation, ties by ascending id; each id enters at most once."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._heap: list[tuple[int, str]] = []
        self.seen: set[str] = set()
        for node in nodes:
            self.push(node)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, node: Node) -> None:
        if node[1] not in self.seen:
            self.seen.add(node[1])
            heapq.heappush(self._heap, (-node[0], node[1]))

    def pop(self) -> Node:
        neg, sid = heapq.heappop(self._heap)
        return -neg, sid

    def ids(self) -> list[str]:
        return [sid for _, sid in self._heap]

    def nodes(self) -> list[Node]:
        return [(-neg, sid) for neg, sid in sorted(self._heap)]


class _Parents:
    """A cache over ``parents_of`` that fetches, with the node asked for, every queued node not yet known."""

    def __init__(self, parents_of: ParentsOf) -> None:
        self._fetch = parents_of
        self._known: dict[str, Sequence[Node]] = {}

    def of(self, sid: str, queue: _Queue) -> Sequence[Node]:
        if sid not in self._known:
            ask = [sid] + [q for q in queue.ids() if q not in self._known]
            found = self._fetch(ask)
            for a in ask:
                self._known[a] = tuple(found.get(a, ()))
        return self._known[sid]


def ancestors(frontier: Iterable[Node], parents_of: ParentsOf, limit: int) -> tuple[list[Node], list[Node]]:
    """Up to ``limit`` nodes of ``frontier`` and its ancestors, newest generation first (ties by id), each once.

    Returns (page, rest): ``rest`` is the frontier to resume from (empty when the walk is done)."""
    queue = _Queue(frontier)
    parents = _Parents(parents_of)
    page: list[Node] = []
    while queue and len(page) < limit:
        node = queue.pop()
        page.append(node)
        for parent in parents.of(node[1], queue):
            queue.push(parent)
    return page, queue.nodes()


_A, _B, _STALE = 1, 2, 4
_BOTH = _A | _B


def merge_bases(a: Node, b: Node, parents_of: ParentsOf) -> list[str]:
    """The lowest common ancestors of ``a`` and ``b`` (each is its own ancestor), newest generation first.

    Paints ancestors of ``a`` with A and of ``b`` with B; a node popped with both and not stale is a merge
    base, and marks its ancestors stale so that none of them is reported. The walk stops once everything
    still queued is stale. Criss-cross histories give more than one base; unrelated snapshots give none."""
    flags: dict[str, int] = {a[1]: _A}
    flags[b[1]] = flags.get(b[1], 0) | _B
    queue = _Queue([a, b])
    parents = _Parents(parents_of)
    bases: list[str] = []
    while queue and not all(flags[sid] & _STALE for sid in queue.ids()):
        _, sid = queue.pop()
        mark = flags[sid]
        if mark & (_BOTH | _STALE) == _BOTH:
            bases.append(sid)
            mark |= _STALE
        for parent in parents.of(sid, queue):
            flags[parent[1]] = flags.get(parent[1], 0) | mark
            queue.push(parent)
    return bases
