"""Pipelines: operators composed in order (e.g. crossover, then mutation), described as data.

JSON form (``Pipeline.to_json`` is canonical: sorted keys, no spaces, so it can be hashed)::

    {"steps": [{"op": "crossover_uniform", "params": {"p": 0.5}},
               {"op": "mutate_gaussian", "params": {"sigma": 0.01}}],
     "version": 1}

Step inputs name tensors: "p0", "p1", ... (parents), "s0", "s1", ... (earlier step outputs) or
"prev". Defaults: the first step takes all parents, each later step takes "prev". A step gets
the base when its operator requires one (``"base": true`` also hands it to operators where it
is optional, e.g. multislerp). Tensor parameters are written as "@name" and passed at run time
in ``tensors={name: tensor}``. Step i draws its randomness from (seed, i, element index), so a
child world records exactly how it was made: (pipeline JSON, seed, parents, base).

``validate`` checks everything that can be checked without computing (operators, parameters,
references, parent counts, shapes, dtypes, base presence, cut points, masks) and ``run`` calls
it first, so a bad pipeline fails before any work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ._core import OpContext, check_chunk_frames, check_seed
from .errors import ParameterError, PipelineError
from .registry import apply, check_call, get_operator

VERSION = 1


@dataclass(frozen=True)
class Step:
    """One operator application: op name, its params, input references and base use."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple | None = None
    base: bool | None = None

    def to_dict(self) -> dict:
        d: dict = {"op": self.op, "params": _jsonable(dict(self.params), self.op)}
        if self.inputs is not None:
            d["inputs"] = list(self.inputs)
        if self.base is not None:
            d["base"] = self.base
        return d


def _jsonable(params: dict, op: str) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, torch.Tensor):
            raise PipelineError(f"{op}.params.{k}", v, "JSON values", f"pass the tensor as '@{k}' with tensors={{...}}")
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of steps; the output of the last step is the result."""

    steps: tuple

    def __post_init__(self):
        if not self.steps:
            raise PipelineError("steps", [], "one or more steps", "add an operator step")

    @staticmethod
    def of(*steps: Step | tuple | str) -> Pipeline:
        """Pipeline.of("linear", ("mutate_gaussian", {"sigma": 0.1}), Step(...))."""
        out = []
        for s in steps:
            if isinstance(s, Step):
                out.append(s)
            elif isinstance(s, str):
                out.append(Step(s))
            else:
                out.append(Step(s[0], dict(s[1]) if len(s) > 1 else {}))
        return Pipeline(tuple(out))

    # -- data form --------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"version": VERSION, "steps": [s.to_dict() for s in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @staticmethod
    def from_json(text: str) -> Pipeline:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            raise PipelineError("pipeline", text, "a JSON object", f"fix the JSON ({e})") from None
        return Pipeline.from_dict(data)

    @staticmethod
    def from_dict(data: Any) -> Pipeline:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise PipelineError("pipeline", data, 'an object with a "steps" list', 'e.g. {"steps": [{"op": "linear"}]}')
        if data.get("version", VERSION) != VERSION:
            raise PipelineError("version", data.get("version"), f"{VERSION}", "re-create the pipeline")
        unknown = set(data) - {"steps", "version"}
        if unknown:
            raise PipelineError("pipeline", sorted(unknown), 'the keys "steps" and "version"', "remove the others")
        steps = []
        for i, s in enumerate(data["steps"]):
            where = f"steps[{i}]"
            if not isinstance(s, dict) or not isinstance(s.get("op"), str):
                raise PipelineError(where, s, 'an object with an "op" name', 'e.g. {"op": "slerp", "params": {"t": 0.5}}')
            extra = set(s) - {"op", "params", "inputs", "base"}
            if extra:
                raise PipelineError(where, sorted(extra), 'the keys op, params, inputs, base', "remove the others")
            params = s.get("params", {})
            if not isinstance(params, dict):
                raise PipelineError(f"{where}.params", params, "an object", "e.g. {}")
            inputs = s.get("inputs")
            if inputs is not None and (not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs)):
                raise PipelineError(f"{where}.inputs", inputs, 'a list of "p<i>", "s<j>" or "prev"', 'e.g. ["p0", "p1"]')
            base = s.get("base")
            if base is not None and not isinstance(base, bool):
                raise PipelineError(f"{where}.base", base, "true or false", "or leave it out")
            steps.append(Step(s["op"], params, tuple(inputs) if inputs is not None else None, base))
        return Pipeline(tuple(steps))

    def resolve(self, n_parents: int) -> Pipeline:
        """The same pipeline with every default written out (what a child world should record)."""
        steps = []
        for i, s in enumerate(self.steps):
            op = _op(s, i)
            n = len(self._refs(i, n_parents))
            full = _resolve(op, s, i, n)
            steps.append(Step(s.op, {k: (list(v) if isinstance(v, tuple) else v) for k, v in full.items()},
                              s.inputs, s.base))
        return Pipeline(tuple(steps))

    # -- checking and running ---------------------------------------------------------------

    def _refs(self, i: int, n_parents: int) -> list[str]:
        s = self.steps[i]
        if s.inputs is not None:
            refs = list(s.inputs)
        elif i == 0:
            refs = [f"p{j}" for j in range(n_parents)]
        else:
            refs = ["prev"]
        if not refs:
            raise PipelineError(f"steps[{i}].inputs", [], "one or more references", 'e.g. ["prev"]')
        out = []
        for r in refs:
            if r == "prev":
                if i == 0:
                    raise PipelineError(f"steps[{i}].inputs", r, '"p<i>" references in the first step', 'use "p0"...')
                r = f"s{i - 1}"
            kind, num = r[:1], r[1:]
            limit = n_parents if kind == "p" else i
            if kind not in ("p", "s") or not num.isdigit() or int(num) >= limit:
                allowed = f'"p0".."p{n_parents - 1}"' + (f', "s0".."s{i - 1}", "prev"' if i else "")
                raise PipelineError(f"steps[{i}].inputs", r, allowed, "refer to a parent or an earlier step")
            out.append(r)
        return out

    def validate(self, parents: Sequence[torch.Tensor], base: torch.Tensor | None = None,
                 tensors: Mapping[str, torch.Tensor] | None = None) -> None:
        """Raise before any work if any step would fail its checks on these inputs."""
        parents = list(parents)
        if not parents:
            raise ParameterError("parents", parents, "one or more tensors", "pass the parents to cross")
        ctx = OpContext(tensors=dict(tensors or {}))
        for i, s in enumerate(self.steps):
            op = _op(s, i)
            refs = self._refs(i, len(parents))
            # every step output has the shape and dtype of parents[0]
            ins = [parents[int(r[1:])] if r[0] == "p" else parents[0] for r in refs]
            b = base if self._wants_base(op, s) else None
            try:
                lay = check_call(op, ins, b)
                full = op.resolve(s.params, len(ins))
                if op.check is not None:
                    op.check(full, lay, len(ins), ctx)
            except PipelineError:
                raise
            except ParameterError as e:
                raise type(e)(f"steps[{i}].{e.param}", e.value, e.allowed, e.fix,
                               message=f"steps[{i}] ({s.op}): {e}") from None

    @staticmethod
    def _wants_base(op, s: Step) -> bool:
        return op.needs_base or (op.uses_base and bool(s.base))

    def run(self, parents: Sequence[torch.Tensor], *, base: torch.Tensor | None = None, seed: int = 0,
            chunk_frames: int | None = None, out: torch.Tensor | None = None, stats: dict | None = None,
            tensors: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Validate, then run the steps in order. Returns the last step's output (``out`` if given).

        stats, if given, receives {"steps": [per-step stats dicts]}.
        """
        seed = check_seed(seed)
        chunk_frames = check_chunk_frames(chunk_frames)
        parents = list(parents)
        self.validate(parents, base, tensors)
        n = len(self.steps)
        refs = [self._refs(i, len(parents)) for i in range(n)]
        last_use = {}
        for i, rs in enumerate(refs):
            for r in rs:
                if r[0] == "s":
                    last_use[int(r[1:])] = i
        results: dict[int, torch.Tensor] = {}
        step_stats = []
        for i, s in enumerate(self.steps):
            op = get_operator(s.op)
            ins = [parents[int(r[1:])] if r[0] == "p" else results[int(r[1:])] for r in refs[i]]
            target = out if i == n - 1 else None
            if target is None and op.inplace and refs[i][0][0] == "s":
                j = int(refs[i][0][1:])
                if last_use.get(j) == i and refs[i].count(refs[i][0]) == 1:
                    target = ins[0]  # the intermediate is not needed again: overwrite it
            st = {} if stats is not None else None
            results[i] = apply(op, ins, base=base if self._wants_base(op, s) else None, params=s.params,
                               seed=seed, chunk_frames=chunk_frames, out=target, stats=st, op_index=i,
                               tensors=tensors)
            step_stats.append(st)
            for j in [j for j, last in last_use.items() if last == i and j in results and j != i]:
                if results[j] is not results[i]:
                    del results[j]
        if stats is not None:
            stats["steps"] = step_stats
        return results[n - 1]


def _op(s: Step, i: int):
    try:
        return get_operator(s.op)
    except ParameterError as e:
        raise PipelineError(f"steps[{i}].op", s.op, e.allowed, e.fix) from None


def _resolve(op, s: Step, i: int, n: int) -> dict:
    try:
        return op.resolve(s.params, n)
    except ParameterError as e:
        raise type(e)(f"steps[{i}].{e.param}", e.value, e.allowed, e.fix,
                      message=f"steps[{i}] ({s.op}): {e}") from None
