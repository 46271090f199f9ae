"""Errors raised by merge_kernels.

One tree, all of it "the caller passed something wrong", so a service maps every one of them
to one status (InvalidArgument) and shows the message as is::

    ParameterError(ValueError)        param, value, allowed (+ fix) -- a parameter is out of range
     |-- UnknownOperatorError         param="op": no operator has this name
     |-- ShapeError                   param="parents"/"base"/...: shapes do not line up
     |-- DtypeError                   param="parents"/...: dtype not accepted by this operator
     |-- MissingBaseError             param="base": a three-way operator was called without a base
     `-- PipelineError                param="pipeline"/"steps[i]...": a pipeline description is malformed

Messages name the parameter, the value and the allowed range or fix, for example
``density=1.5 is outside (0, 1]: pass a fraction of entries to keep, such as 0.2``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DtypeError",
    "MissingBaseError",
    "ParameterError",
    "PipelineError",
    "ShapeError",
    "UnknownOperatorError",
]


def _short(value: Any) -> str:
    """repr() of a value, cut to keep messages readable (tensors are described, not printed)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"tensor(shape={tuple(shape)}, dtype={dtype})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ParameterError(ValueError):
    """A parameter (or input) is outside what the operator accepts.

    Attributes: ``param`` (its name, e.g. ``"density"`` or ``"weight[1]"``), ``value`` (what was
    passed), ``allowed`` (the allowed range or set, in words) and ``fix`` (what to pass instead).
    """

    def __init__(self, param: str, value: Any, allowed: str, fix: str = "", *, message: str | None = None):
        self.param = param
        self.value = value
        self.allowed = allowed
        self.fix = fix
        if message is None:
            message = f"{param}={_short(value)} is outside {allowed}"
            if fix:
                message += f": {fix}"
        super().__init__(message)


class UnknownOperatorError(ParameterError):
    """No operator is registered under this name."""


class ShapeError(ParameterError):
    """Parent, base, mask or output shapes do not line up."""


class DtypeError(ParameterError):
    """The dtype is not accepted by this operator (e.g. interpolation of integer token ids)."""


class MissingBaseError(ParameterError):
    """A three-way operator (task arithmetic, TIES, DARE, breadcrumbs) was called without a base."""


class PipelineError(ParameterError):
    """A pipeline description is malformed (unknown op, bad input reference, bad JSON)."""
