"""What a crossed child carries and must obey: aligned base frames, guidance texts remapped to the child's
frames, the kernels' errors named by request field, finiteness and the space's rules. Pure given its inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

import merge_kernels as mk
from multiverse.crossing.plan import CrossSpec, Plan
from multiverse.errors import FailedPrecondition, InvalidArgument
from multiverse.records import SpaceRecord
from multiverse.state.limits import Limits
from multiverse.state.players import validate_players, validate_timeline


def align_base(base: torch.Tensor, length: int, policy: str) -> torch.Tensor:
    """The base follows the parents' policy where it can (it is long enough to cut), else it is resampled."""
    if base.shape[0] == length:
        return base
    if policy in ("last_n", "truncate") and base.shape[0] > length:
        return align_call(lambda: mk.align([base], policy, length)[0])
    return align_call(lambda: mk.resample(base, length))


def kernel_call(fn: Callable[[], Any]) -> Any:
    """Run a merge_kernels call, translating its errors into the domain's InvalidArgument once: the field is
    the parameter's path (``pipeline.steps[0].density``), the message its value, the allowed range and the fix."""
    try:
        return fn()
    except mk.ParameterError as exc:
        field = f"pipeline.{exc.param}"
        raise InvalidArgument(field, exc.value, exc.fix or f"use a value in {exc.allowed}",
                              reason=f"{field}={show(exc.value)} is outside {exc.allowed}") from None


def align_call(fn: Callable[[], Any]) -> Any:
    """merge_kernels.align's errors are about the request's ``align`` and ``frames``, not the pipeline."""
    try:
        return fn()
    except mk.ParameterError as exc:
        field = {"policy": "align", "length": "frames"}.get(exc.param, exc.param)
        raise InvalidArgument(field, exc.value, exc.fix or f"use a value in {exc.allowed}",
                              reason=f"{field}={show(exc.value)} is outside {exc.allowed}") from None


def check_finite(x: torch.Tensor, what: str) -> None:
    """A cross never stores Inf or NaN (the store refuses them from game servers too)."""
    if not x.is_floating_point() or not x.numel():
        return
    # Fast path (one pass, no temporary): min and max are finite iff every element is (NaN propagates through
    # both, an Inf is the max or the min); only a non-finite result pays for the exact element-wise count.
    lo, hi = torch.aminmax(x)
    if math.isfinite(float(lo)) and math.isfinite(float(hi)):
        return
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise InvalidArgument("pipeline", f"{bad} non-finite {what}",
                              "the pipeline overflowed the latent dtype: lower lambda or the weights, or normalize",
                              reason=f"the crossed {what} hold {bad} Inf/NaN values")


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def share(kstats: dict[str, Any]) -> list[float] | None:
    """The share of elements from each parent, from the first selection step that reports one."""
    for st in kstats.get("steps", []):
        if st and "share" in st:
            return [float(x) for x in st["share"]]
    return None


def check_child(space: SpaceRecord, limits: Limits, players: list, timeline: list, frames: int) -> None:
    """The child obeys the space's rules as a saved state does (the union of players may pass the cap)."""
    try:
        validate_players(players, max_players=min(space.max_players, limits.max_players), limits=limits)
        validate_timeline(timeline, frame_count=frames, limits=limits)
    except InvalidArgument as exc:
        raise FailedPrecondition(f"the crossed state would not be valid in latent space {space.name!r}: {exc.message}; "
                                 "cross fewer or smaller worlds", field=exc.field) from None


def check_header(space: SpaceRecord, limits: Limits, header: memoryview) -> None:
    """The child's encoded header (8-byte length and JSON) fits the cap a save of it would meet."""
    if len(header) - 8 > limits.max_header_bytes:
        raise FailedPrecondition(f"the crossed state's header (players and guidance texts) would be {len(header) - 8} "
                                 f"bytes, over the cap of {limits.max_header_bytes} that a save of it would meet in "
                                 f"latent space {space.name!r}: cross fewer worlds, or states with fewer guidance texts",
                                 field="state.header_length")


def timeline(plan: Plan, spec: CrossSpec, states: list, lengths: list[int], length: int,
              cap: int) -> list[dict[str, Any]]:
    """Parents' guidance texts with frame indices remapped by the alignment, then an event for the cross."""
    texts: dict[tuple[int, str], int] = {}
    for k, ((_, info), n) in enumerate(zip(states, lengths)):
        for entry in info.timeline:
            frame = remap(entry["frame"], n, length, spec.align)
            if frame is not None:
                texts.setdefault((frame, entry["text"]), k)
    ops = "+".join(s.op for s in plan.pipeline.steps)
    event = {"frame": 0, "text": f"[cross] {len(plan.parents)} states crossed with {ops} (seed {spec.seed}, recipe {plan.recipe_sha256[:12]})"}
    ordered = sorted(texts, key=lambda ft: (ft[0], texts[ft], ft[1]))
    return [event] + [{"frame": f, "text": t} for f, t in ordered][: cap - 1]


def remap(frame: int, n: int, length: int, policy: str) -> int | None:
    if policy in ("", "truncate"):
        return frame if frame < length else None
    if policy == "last_n":
        j = frame - (n - length)
        return j if j >= 0 else None
    return round(frame * (length - 1) / (n - 1)) if n > 1 else 0
