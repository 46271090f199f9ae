"""Explicit ports and events (issue 14 item 6): Crossing runs on the metadata and blob ports it is given (no
Store); its compute is a load step and a pure step; the metadata fires a commit event, in commit order, for saves
and crossed worlds alike; a snapshot's id is computed in one place; the market uses no private member of the
metadata adapter."""

from __future__ import annotations

import ast
from pathlib import Path

from multiverse.crossing import Crossing, CrossSpec, pipeline_from
from multiverse.crossing.cross import make_child
from multiverse.crossing.stored import state_id
from tests.crossing.conftest import ADMIN
from tests.crossing.lab import frames, state

ROOT = Path(__file__).resolve().parents[2]




def test_crossing_runs_on_the_ports_it_is_given(lab):
    for w in ("a", "b"):
        lab.world(w)
    a, b = lab.save("a", state(frames(1))), lab.save("b", state(frames(2)))
    heard = []
    lab.app.meta.commits.subscribe(heard.append)
    store = lab.app.store
    crossing = Crossing(lab.app.meta, lab.app.blobs, store.resolve, store.limits, clock=lambda: 1234.5)
    spec = CrossSpec((a.id, b.id), pipeline_from("linear", {}, None), name="child")
    crossed = crossing.cross(ADMIN, spec)
    assert crossed.created and crossed.snapshot.created_at == 1234.5
    assert crossed.snapshot == crossed.snapshot.sealed()  # its id is the hash of its body
    assert heard == [crossed.snapshot]  # a crossed world is heard of, though no Store wrapper saw it
    # the load step reads, the pure step gives the same child as compute, twice
    plan = crossing.plan(ADMIN, spec)
    inputs = crossing.load(plan)
    once, again = make_child(plan, spec, inputs, store.limits), make_child(plan, spec, inputs, store.limits)
    ids = {state_id(lab.app.blobs, c.parts) for c in (once, again, crossing.compute(plan, spec))}  # as stored
    assert ids == {crossed.snapshot.state}


def test_commits_are_heard_in_commit_order_and_a_failing_listener_undoes_nothing(lab):
    lab.world("w")
    heard = []

    def broken(record):
        raise RuntimeError("a listener's bug")

    lab.app.meta.commits.subscribe(broken)
    stop = lab.app.meta.commits.subscribe(heard.append)
    first = lab.save("w", state(frames(1)))
    second = lab.save("w", state(frames(2)), parent=first)
    assert heard == [first, second] and lab.app.meta.heads("w")["main"] == second.id
    stop()
    lab.save("w", state(frames(3)), parent=second)
    assert heard == [first, second]


def _calls(root: Path, name: str) -> list[str]:
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                found.append(str(path.relative_to(ROOT)))
    return found


def test_a_snapshot_id_is_computed_in_one_place():
    assert _calls(ROOT / "multiverse", "snapshot_id") == ["multiverse/records.py"]


def test_the_market_uses_no_private_member_of_the_metadata():
    for path in (ROOT / "multiverse" / "market").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "meta"):
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} uses meta.{node.attr}")
