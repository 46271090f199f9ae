"""merge_kernels: fast, deterministic merge and crossover operators on latent tensors (torch).

Public surface (the service layer needs nothing else)::

    list_operators() -> [dict]                 every operator: name, family, formula, params schema...
    operator_names() -> [str]; get_operator(name) -> Operator (.schema(), .describe(), .resolve())
    apply(op, parents, *, base=None, params=None, seed=0, chunk_frames=None, out=None,
          stats=None, tensors=None) -> Tensor  one operator, validated, chunked
    Pipeline / Step                            composition as data: to_json / from_json,
                                               validate(parents, base), run(parents, base=, seed=, ...)
    align(tensors, policy, length=None)        last_n | truncate | resample along T
    ParameterError (+ subclasses)              every error; carries param, value, allowed, fix

Operators: linear, slerp, multislerp, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs,
crossover_kpoint, crossover_uniform, crossover_mask, blend, sbx, mutate_gaussian.
Imports torch, and numba for the fused CPU loops of fused.py (without numba the torch kernels
run everywhere, slower on the CPU).
"""

from . import crossover as _crossover  # noqa: F401  (registers operators)
from . import evolve as _evolve  # noqa: F401
from . import interpolate as _interpolate  # noqa: F401
from . import taskvec as _taskvec  # noqa: F401
from .align import POLICIES as ALIGN_POLICIES
from .align import align, resample
from .errors import (
                     DtypeError,
                     MissingBaseError,
                     ParameterError,
                     PipelineError,
                     ShapeError,
                     UnknownOperatorError,
)
from .params import Param
from .pipeline import Pipeline, Step
from .registry import Operator, apply, get_operator, list_operators, operator_names, selection_operators
from .rng import effective_p
from .select import SAMPLE_SIZE

__all__ = [
                     "ALIGN_POLICIES",
                     "SAMPLE_SIZE",
                     "DtypeError",
                     "MissingBaseError",
                     "Operator",
                     "Param",
                     "ParameterError",
                     "Pipeline",
                     "PipelineError",
                     "ShapeError",
                     "Step",
                     "UnknownOperatorError",
                     "align",
                     "apply",
                     "effective_p",
                     "get_operator",
                     "list_operators",
                     "operator_names",
                     "resample",
                     "selection_operators",
]
