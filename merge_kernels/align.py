"""Align sequences of different lengths along T before crossing them (the policy is named in the call).

    last_n     keep the last L frames of each (L = length, default the shortest T): views, no copy
    truncate   keep the first L frames of each: views, no copy
    resample   resample each to L frames (default the longest T) along T: linear interpolation
               between neighbouring frames for floats, nearest frame for integer token ids.
               Frame j of the output sits at source position j (T - 1) / (L - 1).

Frame shapes, dtypes and devices must already agree (the latent space guarantees it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._core import DEFAULT_CHUNK_ELEMS, FLOAT_DTYPES, describe_dtype, frame_chunks
from .errors import DtypeError, ParameterError, ShapeError

POLICIES = ("last_n", "truncate", "resample")

__all__ = ["POLICIES", "align", "resample"]


def align(tensors: Sequence[torch.Tensor], policy: str, length: int | None = None) -> list[torch.Tensor]:
    """Bring K tensors [T_i, *frame] to one length along T with the named policy.

    length: the target number of frames; default min(T_i) for last_n / truncate and max(T_i)
    for resample. last_n / truncate return views; resample returns new tensors.
    """
    if policy not in POLICIES:
        raise ParameterError("policy", policy, "one of " + ", ".join(POLICIES),
                             "last_n keeps the newest frames, truncate the oldest, resample stretches")
    tensors = list(tensors)
    if not tensors:
        raise ParameterError("tensors", tensors, "one or more tensors", "pass the sequences to align")
    frame = None
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor) or t.dim() < 1:
            raise ShapeError(f"tensors[{i}]", t, "tensors of shape [T, ...]", "add a frame axis")
        if frame is None:
            frame, dtype, device = tuple(t.shape[1:]), t.dtype, t.device
        elif tuple(t.shape[1:]) != frame or t.dtype != dtype or t.device != device:
            raise ShapeError(f"tensors[{i}]", t,
                             f"frames of shape {frame}, dtype {describe_dtype(dtype)} on {device} (as tensors[0])",
                             "only states of one latent space can be aligned")
    lengths = [t.shape[0] for t in tensors]
    if length is None:
        length = max(lengths) if policy == "resample" else min(lengths)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ParameterError("length", length, "[1, inf)", "pass a number of frames")
    if policy != "resample" and length > min(lengths):
        raise ParameterError("length", length, f"[1, {min(lengths)}] (the shortest sequence) for {policy}",
                             "use policy='resample' to stretch shorter sequences")
    if policy == "last_n":
        return [t[t.shape[0] - length:] for t in tensors]
    if policy == "truncate":
        return [t[:length] for t in tensors]
    return [resample(t, length) for t in tensors]


def resample(x: torch.Tensor, length: int) -> torch.Tensor:
    """x [T, *frame] -> [length, *frame]: linear between neighbouring frames (floats), nearest (ints).

    Computed in chunks of output frames (float32 accumulation for half precision).
    """
    T = x.shape[0]
    if T == 0:
        raise ShapeError("tensors", x, "at least one frame", "an empty sequence cannot be resampled")
    if x.dtype.is_complex:
        raise DtypeError("tensors", x, "real dtypes", "split complex latents first")
    if length == T:
        return x.clone()
    out = torch.empty((length,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    pos = torch.linspace(0.0, T - 1.0, length, dtype=torch.float64, device=x.device) if length > 1 \
        else torch.zeros(1, dtype=torch.float64, device=x.device)
    F = max(1, x[0].numel())
    per = max(1, DEFAULT_CHUNK_ELEMS // F)
    if x.dtype not in FLOAT_DTYPES:
        idx = pos.round().long().clamp_(0, T - 1)
        for j0, j1 in frame_chunks(length, per):
            torch.index_select(x, 0, idx[j0:j1], out=out[j0:j1])
        return out
    lo = pos.floor().long().clamp_(0, T - 1)
    hi = (lo + 1).clamp_(max=T - 1)
    frac = (pos - lo.double())
    cd = torch.float64 if x.dtype == torch.float64 else torch.float32
    wshape = (-1,) + (1,) * (x.dim() - 1)
    for j0, j1 in frame_chunks(length, per):
        a = x.index_select(0, lo[j0:j1]).to(cd)
        b = x.index_select(0, hi[j0:j1]).to(cd)
        out[j0:j1].copy_(torch.lerp(a, b, frac[j0:j1].to(cd).view(wshape)))
    return out
