"""Hostile values for the fuzzer, and a JSON writer that can emit what Python's own cannot.

``Raw(text)`` is written verbatim: integers of thousands of digits, ``NaN``, lone surrogates and nesting a
hundred thousand levels deep, none of which ``json.dumps`` can produce without tripping its own limits. Pure.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Raw:
    """JSON text inserted as it is; ``note`` is how a report shows it (the text itself may be 200 KB)."""

    text: str
    note: str = ""

    def __repr__(self) -> str:
        return self.note or (self.text if len(self.text) <= 60 else f"{self.text[:40]}...({len(self.text)} chars)")


def dumps(value: Any) -> str:
    """JSON text of ``value``; ``Raw`` parts verbatim, floats NaN/Infinity as Python's json reads them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)  # str, int, float (NaN -> NaN), bool, None


def show(value: Any, limit: int = 120) -> str:
    """A short, reproducible description of a value for the findings list."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...({len(text)} chars)"


def deep(n: int, kind: str = "list") -> Raw:
    """``n`` levels of nested arrays or objects (200 KB at n = 100,000)."""
    if kind == "list":
        return Raw("[" * n + "]" * n, f"<{n}-deep nested list>")
    return Raw('{"a":' * n + "1" + "}" * n, f"<{n}-deep nested object>")


def big_int(digits: int, sign: str = "") -> Raw:
    """An integer literal of ``digits`` digits (Python refuses to parse more than 4,300)."""
    return Raw(sign + "9" * digits, f"<{sign}integer of {digits} digits>")


SPECIAL = [
    Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e309"), Raw("-1e400"), Raw("1e-400"),
    True, False, None, 0, -1, 1, 2**31, 2**32, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 0.5, -0.0, 1e300,
    "", " ", "\x00", "\u00ff\u4e16", Raw('"\\ud800"', "<lone surrogate>"), "../../etc/passwd", "%s%n", "a" * 300,
    [], {}, [1, 2, 3], {"a": 1}, [[[[1]]]], [None], {"": None},
]


def nasty(rng: random.Random, *, deep_share: float = 0.01) -> Any:
    """One hostile JSON value: wrong types, huge numbers, NaN, odd strings, deep nesting (rarely)."""
    roll = rng.random()
    if roll < deep_share:
        return deep(rng.choice([100_000, 100_000, 30_000]), rng.choice(["list", "object"]))
    if roll < 0.08:
        return big_int(rng.choice([20, 309, 400, 4300, 4301, 5000]), rng.choice(["", "-"]))
    if roll < 0.12:
        return deep(rng.choice([50, 200, 1000]), rng.choice(["list", "object"]))
    if roll < 0.15:
        return "x" * rng.choice([10_000, 70_000])
    return rng.choice(SPECIAL)


def mutate_json(value: Any, rng: random.Random, *, deep_share: float = 0.01) -> tuple[Any, str]:
    """A copy of the JSON-like ``value`` with one part replaced, removed or added; returns it and a note."""
    paths = list(_paths(value))
    path = rng.choice(paths)
    op = rng.choice(["replace", "replace", "replace", "delete", "add", "wrap"]) if path else "replace"
    new = nasty(rng, deep_share=deep_share)
    where = "".join(f"[{p!r}]" for p in path) or "(root)"
    if op == "wrap":
        new = [_get(value, path)] if rng.random() < 0.5 else {"v": _get(value, path)}
    if not path:
        return new, f"root = {show(new)}"
    parent = _get(value, path[:-1])
    out = _copy_set(value, path[:-1], _edit(parent, path[-1], op, new, rng))
    return out, f"{op} {where}" + ("" if op == "delete" else f" = {show(new)}")


def _edit(parent: Any, key: Any, op: str, new: Any, rng: random.Random) -> Any:
    if isinstance(parent, dict):
        parent = dict(parent)
        if op == "delete":
            parent.pop(key, None)
        elif op == "add":
            parent[rng.choice(["extra", "__proto__", "", "x" * 100, str(key) + " "])] = new
        else:
            parent[key] = new
        return parent
    parent = list(parent)
    if op == "delete":
        del parent[key]
    elif op == "add":
        parent.insert(key, new)
    else:
        parent[key] = new
    return parent


def _paths(value: Any, prefix: tuple = ()) -> Any:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value


def _copy_set(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _copy_set(value[head], rest, new)}
    out = list(value)
    out[head] = _copy_set(value[head], rest, new)
    return out
