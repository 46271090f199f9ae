"""Quality statistics of a crossed state against its parents and the latent space's reference. Pure torch.

Reference statistics (a space's ``reference``, all optional): ``norm_mean`` and ``norm_std`` of one frame's
L2 norm, ``channel_std`` per channel (axis 1 of [T, C, ...]). Where the space has none, the parents' own
figures stand in, and the JSON says so (``reference``).

The figures are estimates over up to ``SAMPLE_FRAMES`` evenly spaced frames (every frame of a shorter state),
the same frames of the child and of each aligned parent: a 64 MB cross pays a few milliseconds for them.

    norm_z                   (child's mean frame norm - reference mean) / reference std
    norm_ratio               child's mean frame norm / parents' mean frame norm (slerp keeps ~1, lerp ~0.7)
    channel_mean_divergence  mean over channels of |child mean - parents' mean| / reference (or parents') std
    channel_std_divergence   mean over channels of |child std / parents' std - 1|
    parent_share             share of elements taken from each parent: exact from a selection operator's
                             kernel (``parent_share_source`` "kernel"), else the share of sampled elements
                             nearest to each parent ("nearest")
"""

from __future__ import annotations

from typing import Any

import torch

SAMPLE_FRAMES = 64
SAMPLE_ELEMENTS = 1 << 18


def sample_index(length: int, n: int = SAMPLE_FRAMES) -> torch.Tensor:
    """Up to ``n`` evenly spaced frame indices of [0, length), first and last included."""
    if length <= n:
        return torch.arange(length)
    return torch.div(torch.arange(n) * (length - 1), n - 1, rounding_mode="floor")


def frame_norms(x: torch.Tensor) -> torch.Tensor:
    """[T, ...] float32 -> [T] L2 norm of each frame."""
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1)


def channel_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[T, C, ...] float32 -> per-channel mean and std [C] (a frame with one axis counts as C channels of size 1)."""
    flat = x.transpose(0, 1).reshape(x.shape[1], -1) if x.dim() > 1 else x.reshape(1, -1)
    return flat.mean(dim=1), flat.std(dim=1, unbiased=False)


def nearest_share(child: torch.Tensor, parents: list[torch.Tensor]) -> list[float]:
    """Share of elements of ``child`` nearest to each parent (ties go to the earlier parent), over at most
    about ``SAMPLE_ELEMENTS`` evenly strided elements."""
    step = max(1, child.numel() // SAMPLE_ELEMENTS)
    child, parents = child.reshape(-1)[::step], [p.reshape(-1)[::step] for p in parents]
    best = (child - parents[0]).abs()
    owner = torch.zeros(best.shape, dtype=torch.uint8)
    for k, p in enumerate(parents[1:], start=1):  # a running minimum: no [K, N] stack, no strided argmin
        d = (child - p).abs()
        closer = d < best
        owner.masked_fill_(closer, k)
        best = torch.minimum(best, d)
    counts = torch.bincount(owner.reshape(-1).long(), minlength=len(parents)).double()
    return (counts / max(1, best.numel())).tolist()


def cross_stats(child: torch.Tensor, parents: list[torch.Tensor], reference: dict[str, Any],
                share: list[float] | None) -> dict[str, Any]:
    """Figures that say whether the child still looks like the space's latents (see the module doc).

    ``child`` [T, ...] and ``parents`` (aligned, each [T, ...]); ``share`` the kernel's exact parent share."""
    idx = sample_index(child.shape[0])
    c = child.index_select(0, idx).float()
    ps = [p.index_select(0, idx).float() for p in parents]
    source = "kernel" if share else "nearest"
    shares = share if share else nearest_share(c, ps)
    out: dict[str, Any] = {"parent_share": [round(float(s), 6) for s in shares], "parent_share_source": source,
                           "sampled_frames": int(idx.numel())}
    if not child.is_floating_point():
        return out | {"note": "token ids: only parent shares apply", "norm_z": 0.0, "norm_ratio": 1.0,
                      "channel_mean_divergence": 0.0, "channel_std_divergence": 0.0}
    child_norm = frame_norms(c).mean().item()
    parent_norms = torch.cat([frame_norms(p) for p in ps])
    if "norm_mean" in reference and "norm_std" in reference:
        mean, std, ref = float(reference["norm_mean"]), float(reference["norm_std"]), "space reference"
    else:
        mean, std, ref = parent_norms.mean().item(), parent_norms.std(unbiased=False).item(), "parents"
    c_mean, c_std = channel_moments(c)
    moments = [channel_moments(p) for p in ps]
    p_mean = torch.stack([m for m, _ in moments]).mean(0)
    p_std = torch.stack([s for _, s in moments]).mean(0)
    given = reference.get("channel_std", [])
    ref_std = torch.tensor(given, dtype=torch.float32) if len(given) == len(c_std) else p_std
    out.update(
        norm_mean=round(child_norm, 6),
        norm_z=round((child_norm - mean) / max(std, 1e-12), 6),
        norm_ratio=round(child_norm / max(parent_norms.mean().item(), 1e-12), 6),
        channel_mean_divergence=round(((c_mean - p_mean).abs() / ref_std.clamp_min(1e-12)).mean().item(), 6),
        channel_std_divergence=round((c_std / p_std.clamp_min(1e-12) - 1).abs().mean().item(), 6),
        reference=ref,
    )
    return out
