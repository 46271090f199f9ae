"""What a cross is asked for and what it will do: the request (``CrossSpec``), the server's caps on crosses
(``CrossLimits``), the resolved ``Plan`` and its recipe's code version, and the operators a pipeline may name.
Plain data; ``multiverse.crossing.cross`` makes plans and carries them out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import merge_kernels as mk
from merge_kernels import ParameterError, list_operators
from multiverse import __version__
from multiverse.errors import InvalidArgument
from multiverse.records import SnapshotRecord, SpaceRecord

__all__ = ["ALIGN", "CODE_VERSION", "CrossLimits", "CrossSpec", "ParameterError", "Plan", "Progress",
           "list_operators", "pipeline_from"]

CODE_VERSION = f"multiverse {__version__}; torch {torch.__version__}"
ALIGN = ("", *mk.ALIGN_POLICIES)
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class CrossLimits:
    max_parents: int = 8
    max_input_bytes: int = 4 << 30  # the parents' states together
    max_running: int = 2  # crosses computing at once (each holds its parents and child in memory); others queue
    # seconds of the caller's deadline that must be left to begin the commit: the metadata transaction and the
    # reply must both land before it, or the caller hears DEADLINE_EXCEEDED about a world that was created
    commit_reserve_s: float = 1.0


@dataclass(frozen=True)
class CrossSpec:
    parents: tuple[str, ...]
    pipeline: dict[str, Any]
    name: str = ""
    seed: int = 0
    align: str = ""
    frames: int = 0
    player_policy: str = "prefer-first"
    base: str = ""
    owner: str = ""
    description: str = ""


@dataclass(frozen=True)
class Plan:
    space: SpaceRecord
    parents: tuple[SnapshotRecord, ...]
    base: SnapshotRecord | None
    pipeline: mk.Pipeline
    recipe: dict[str, Any]
    recipe_sha256: str


def pipeline_from(op: str, params: dict[str, Any] | None, pipeline: dict[str, Any] | None) -> dict[str, Any]:
    """The pipeline as data: an explicit one, or one step ``op`` with ``params``."""
    if pipeline and op:
        raise InvalidArgument("op", op, "give either a pipeline or one operator, not both")
    if pipeline:
        return pipeline
    if not op:
        raise InvalidArgument("op", op, f"name an operator, one of {', '.join(mk.operator_names())}")
    return {"steps": [{"op": op, "params": params or {}}]}
