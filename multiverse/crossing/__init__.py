"""Crossing worlds: two or more states of one latent space -> a new world, by a merge/crossover pipeline.

``plan`` (the request, the caps, the resolved plan and recipe), ``cross`` (the ``Crossing`` service: plan,
compute, store, commit), ``child`` (what a crossed child carries and must obey), ``players`` and
``player_merge`` (the child's players), ``stats`` (how the child compares with its parents and the space).
merge_kernels is reached through this package: services import the operator listing and its error class here.
"""

from multiverse.crossing.cross import Child, Crossed, Crossing
from multiverse.crossing.plan import (
    ALIGN,
    CODE_VERSION,
    CrossLimits,
    CrossSpec,
    ParameterError,
    Plan,
    list_operators,
    pipeline_from,
)

__all__ = ["ALIGN", "CODE_VERSION", "Child", "CrossLimits", "CrossSpec", "Crossed", "Crossing", "ParameterError",
           "Plan", "list_operators", "pipeline_from"]
