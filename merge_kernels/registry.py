"""Operators registered by name, as data, and the one validated entry point :func:`apply`.

An :class:`Operator` is a record: name, kernel, parameter schema, formula, how many parents
it takes, whether it needs a base, whether it is a *selection* (every output element is a
copy of a parent element, so it also applies to integer token ids). Each operator module
registers its records at import; ``merge_kernels`` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from . import params as _params
from ._core import (
    FLOAT_DTYPES,
    Layout,
    OpContext,
    check_chunk_frames,
    check_seed,
    check_tensors,
    describe_dtype,
    overlaps,
)
from .errors import DtypeError, MissingBaseError, ParameterError, ShapeError, UnknownOperatorError

__all__ = [
    "Operator",
    "apply",
    "get_operator",
    "list_operators",
    "operator_names",
    "register",
    "selection_operators",
]

Kernel = Callable[[list, "torch.Tensor | None", dict, torch.Tensor, OpContext], None]


@dataclass(frozen=True)
class Operator:
    """One registered operator.

    kernel(parents, base, params, out, ctx) writes the result into ``out`` (and optional
    statistics into ``ctx.stats``). ``check(params, layout, n_parents, ctx)`` runs the checks
    that need shapes (cut points inside T, mask shapes...) before any work.
    """

    name: str
    kernel: Kernel
    params: tuple
    summary: str
    formula: str
    family: str
    min_parents: int = 2
    max_parents: int | None = None
    needs_base: bool = False
    uses_base: bool = False
    selection: bool = False
    random: bool = False
    inplace: bool = False
    check: Callable | None = None
    stats: tuple = ()

    def schema(self) -> list[dict]:
        """The parameter schema as JSON-able dicts (name, type, default, min, max, doc...)."""
        return [p.to_dict() for p in self.params]

    def describe(self) -> dict:
        """Everything a service lists about this operator."""
        return {
            "name": self.name,
            "family": self.family,
            "summary": self.summary,
            "formula": self.formula,
            "min_parents": self.min_parents,
            "max_parents": self.max_parents,
            "base": "required" if self.needs_base else ("optional" if self.uses_base else "unused"),
            "selection": self.selection,
            "integer_inputs": self.selection,
            "random": self.random,
            "stats": list(self.stats),
            "params": self.schema(),
        }

    def resolve(self, params: Mapping[str, Any] | None, n_parents: int) -> dict:
        """Check params against the schema; fill defaults; broadcast per-parent values."""
        return _params.resolve(self.params, params, n_parents, self.name)


_REGISTRY: dict[str, Operator] = {}


def register(op: Operator) -> Operator:
    if op.name in _REGISTRY:
        raise ValueError(f"operator {op.name!r} is already registered")
    _REGISTRY[op.name] = op
    return op


def get_operator(name: str | Operator) -> Operator:
    """The operator registered under ``name`` (UnknownOperatorError lists the known names)."""
    if isinstance(name, Operator):
        return name
    op = _REGISTRY.get(name)
    if op is None:
        raise UnknownOperatorError("op", name, "the registered operators: " + ", ".join(sorted(_REGISTRY)),
                                   "pick one of them (merge_kernels.list_operators() describes each)")
    return op


def operator_names() -> list[str]:
    return sorted(_REGISTRY)


def list_operators() -> list[dict]:
    """``describe()`` of every registered operator, sorted by name."""
    return [_REGISTRY[n].describe() for n in sorted(_REGISTRY)]


def selection_operators() -> list[str]:
    return sorted(n for n, op in _REGISTRY.items() if op.selection)


def check_call(op: Operator, parents: Sequence[torch.Tensor], base: torch.Tensor | None) -> Layout:
    """Parent count, shapes, dtypes and base presence for ``op`` (before any work)."""
    layout = check_tensors(parents, base, min_parents=op.min_parents, max_parents=op.max_parents, op=op.name)
    dtype = parents[0].dtype
    if dtype.is_complex:
        raise DtypeError("parents", parents[0], "real float or integer dtypes", "split complex latents into real parts")
    if dtype not in FLOAT_DTYPES and not op.selection:
        raise DtypeError("parents", parents[0],
                         f"float dtypes for {op.name} (it interpolates; got {describe_dtype(dtype)})",
                         "integer token ids accept only selection operators: " + ", ".join(selection_operators()))
    if op.needs_base and base is None:
        raise MissingBaseError("base", None, f"a tensor shaped like the parents: {op.name} is a three-way merge",
                               "pass the common ancestor (merge base) as base")
    if base is not None and not (op.needs_base or op.uses_base):
        raise ParameterError("base", base, f"None: {op.name} does not use a base", "drop the base argument")
    return layout


def apply(op: str | Operator, parents: Sequence[torch.Tensor], *, base: torch.Tensor | None = None,
          params: Mapping[str, Any] | None = None, seed: int = 0, chunk_frames: int | None = None,
          out: torch.Tensor | None = None, stats: dict | None = None, op_index: int = 0,
          tensors: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Run one operator: validate everything, then compute chunk by chunk into ``out``.

    parents       K tensors [T, ...] of one shape, dtype and device
    base          the common ancestor, required by three-way operators
    params        operator parameters (see ``get_operator(op).schema()``); defaults fill the rest
    seed          randomness is a function of (seed, op_index, element index) only
    chunk_frames  frames per chunk (None: about 1 MiB); never changes the result
    out           optional preallocated output like parents[0]; must not overlap the inputs
                  (operators marked ``inplace`` accept out=parents[0])
    stats         optional dict the operator fills (e.g. "share": fraction taken from each parent)
    tensors       run-time tensors named by '@name' parameters (e.g. a crossover mask)
    Returns the output tensor (``out`` if given).
    """
    spec = get_operator(op)
    seed = check_seed(seed)
    chunk_frames = check_chunk_frames(chunk_frames)
    parents = list(parents)
    layout = check_call(spec, parents, base)
    resolved = spec.resolve(params, len(parents))
    ctx = OpContext(seed=seed, op_index=op_index, chunk_frames=chunk_frames, stats=stats, tensors=dict(tensors or {}))
    if spec.check is not None:
        spec.check(resolved, layout, len(parents), ctx)
    parents = [p if p.is_contiguous() else p.contiguous() for p in parents]
    if base is not None and not base.is_contiguous():
        base = base.contiguous()
    out = _prepare_out(out, parents, base, layout, spec.inplace)
    if layout.numel:
        spec.kernel(parents, base, resolved, out, ctx)
    return out


def _prepare_out(out, parents, base, layout: Layout, inplace: bool = False) -> torch.Tensor:
    ref = parents[0]
    if out is None:
        return torch.empty(layout.shape, dtype=ref.dtype, device=ref.device)
    if not isinstance(out, torch.Tensor):
        raise ParameterError("out", out, "a tensor or None", "pass a preallocated tensor like parents[0]")
    if tuple(out.shape) != layout.shape or out.dtype != ref.dtype or out.device != ref.device:
        raise ShapeError("out", out, f"a {describe_dtype(ref.dtype)} tensor of shape {layout.shape} on {ref.device}",
                         "allocate it with torch.empty_like(parents[0])")
    if not out.is_contiguous():
        raise ParameterError("out", out, "a contiguous tensor", "allocate it with torch.empty_like(parents[0])")
    for i, t in enumerate(list(parents) + ([base] if base is not None else [])):
        if inplace and i == 0 and out.data_ptr() == t.data_ptr():
            continue  # an elementwise one-input operator may overwrite its input
        if overlaps(out, t):
            name = f"parents[{i}]" if i < len(parents) else "base"
            raise ParameterError("out", out, f"memory not shared with the inputs (it overlaps {name})",
                                 "pass a separate output buffer")
    return out
