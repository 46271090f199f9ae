"""Typed, validated operator parameters: a schema that a service can list and check against.

Each operator declares a tuple of :class:`Param`. ``Param.to_dict()`` is the listing format
(name, type, default, min/max, choices, one-line doc); :func:`resolve` turns a caller's
``params`` mapping into a complete, checked dict (defaults filled in, per-parent values
broadcast to one per parent) or raises :class:`~merge_kernels.errors.ParameterError`.

Types:
    float    a real number (finite), optionally bounded
    int      an integer, optionally bounded
    bool     true / false
    choice   one string out of ``choices``
    floats   a real number, or a list with one per parent (resolved to a tuple of K floats)
    ints     a list of integers (e.g. cut points), or null when ``nullable``
    region   a box: a list of [axis, start, stop] with start/stop fractions in [0, 1]
    mask     a boolean / integer tensor, or "@name" naming a tensor passed at run time
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ParameterError

__all__ = ["TYPES", "Param", "resolve"]

TYPES = ("float", "int", "bool", "choice", "floats", "ints", "region", "mask")


@dataclass(frozen=True)
class Param:
    """One parameter of an operator: its type, default, range and a one-line doc."""

    name: str
    type: str
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    fix: str = ""

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"Param {self.name}: type {self.type!r} is not one of {TYPES}")

    def allowed(self) -> str:
        """The allowed range or set, in words: '(0, 1]', 'one of none, sum', 'true or false'."""
        if self.type == "bool":
            return "true or false"
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "mask":
            return "a bool/integer tensor or '@name'"
        if self.type == "region":
            return "a list of [axis, start, stop] with 0 <= start < stop <= 1"
        lo = "-inf" if self.min is None else _num(self.min)
        hi = "inf" if self.max is None else _num(self.max)
        left = "(" if (self.min_open or self.min is None) else "["
        right = ")" if (self.max_open or self.max is None) else "]"
        return f"{left}{lo}, {hi}{right}"

    def to_dict(self) -> dict:
        """The listing format: JSON-able description of this parameter."""
        return {
            "name": self.name,
            "type": self.type,
            "default": list(self.default) if isinstance(self.default, tuple) else self.default,
            "min": self.min,
            "max": self.max,
            "min_exclusive": self.min_open,
            "max_exclusive": self.max_open,
            "choices": list(self.choices),
            "allowed": self.allowed(),
            "doc": self.doc,
        }

    # -- checking -------------------------------------------------------------------------

    def _fail(self, value: Any, label: str | None = None, fix: str | None = None) -> ParameterError:
        return ParameterError(label or self.name, value, self.allowed(), self.fix if fix is None else fix)

    def _number(self, value: Any, label: str, integer: bool) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "an integer" if integer else "a number"
            raise ParameterError(label, value, self.allowed(), f"pass {kind}")
        if integer and not isinstance(value, int):
            if not float(value).is_integer():
                raise ParameterError(label, value, self.allowed(), "pass an integer")
            value = int(value)
        if not integer:
            value = float(value)
            if not math.isfinite(value):
                raise self._fail(value, label)
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            raise self._fail(value, label)
        if self.max is not None and (value > self.max or (self.max_open and value == self.max)):
            raise self._fail(value, label)
        return value

    def check(self, value: Any, n_parents: int) -> Any:
        """Return the normalized value or raise ParameterError naming this parameter."""
        if value is None:
            if self.nullable:
                return None
            raise self._fail(value)
        t = self.type
        if t == "float":
            return self._number(value, self.name, integer=False)
        if t == "int":
            return self._number(value, self.name, integer=True)
        if t == "bool":
            if not isinstance(value, bool):
                raise self._fail(value, fix="pass true or false")
            return value
        if t == "choice":
            if value not in self.choices:
                raise self._fail(value)
            return value
        if t == "floats":
            if isinstance(value, (list, tuple)):
                if len(value) != n_parents:
                    raise ParameterError(
                        self.name, value, f"one number or a list of {n_parents} (one per parent)",
                        f"pass {n_parents} values or a single number")
                return tuple(self._number(v, f"{self.name}[{i}]", False) for i, v in enumerate(value))
            return (self._number(value, self.name, False),) * n_parents
        if t == "ints":
            if not isinstance(value, (list, tuple)):
                raise ParameterError(self.name, value, "a list of integers", self.fix)
            return tuple(self._number(v, f"{self.name}[{i}]", True) for i, v in enumerate(value))
        if t == "region":
            return _check_region(self, value)
        return _check_mask(self, value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _check_region(p: Param, value: Any) -> tuple:
    if not isinstance(value, (list, tuple)) or not value:
        raise ParameterError(p.name, value, p.allowed(), "e.g. [[-1, 0.5, 1.0]] for the east half")
    out = []
    for i, box in enumerate(value):
        label = f"{p.name}[{i}]"
        if not isinstance(box, (list, tuple)) or len(box) != 3:
            raise ParameterError(label, box, "[axis, start, stop]", "e.g. [-1, 0.5, 1.0]")
        axis, start, stop = box
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ParameterError(f"{label}.axis", axis, "an integer axis of [T, ...]", "e.g. -1 for the last axis")
        for name, v in (("start", start), ("stop", stop)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise ParameterError(f"{label}.{name}", v, "[0, 1]", "give the box as fractions of the axis")
        if float(start) >= float(stop):
            raise ParameterError(f"{label}", box, "start < stop", "e.g. [-1, 0.5, 1.0]")
        out.append((axis, float(start), float(stop)))
    return tuple(out)


def _check_mask(p: Param, value: Any) -> Any:
    if isinstance(value, str):
        if not value.startswith("@") or len(value) < 2:
            raise ParameterError(p.name, value, p.allowed(), "name a run-time tensor as '@name'")
        return value
    if not isinstance(value, torch.Tensor):
        raise ParameterError(p.name, value, p.allowed(), "pass a torch tensor")
    if value.is_floating_point() or value.is_complex():
        raise ParameterError(p.name, value, p.allowed(), "pass a bool mask or integer parent indices")
    return value


def resolve(schema: tuple[Param, ...], params: Mapping[str, Any] | None, n_parents: int,
            op_name: str = "") -> dict:
    """Check ``params`` against ``schema``: unknown names are errors; defaults fill the rest."""
    params = dict(params or {})
    by_name = {p.name: p for p in schema}
    for name in params:
        if name not in by_name:
            allowed = ", ".join(by_name) or "none"
            raise ParameterError(name, params[name], f"the parameters of {op_name or 'this operator'}: {allowed}",
                                 "remove it or check its spelling")
    out = {}
    for p in schema:
        value = params.get(p.name, p.default)
        out[p.name] = p.check(value, n_parents)
    return out
