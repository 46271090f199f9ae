"""Quality statistics of a crossed state against its parents and the latent space's reference. Pure torch.

Reference statistics (a space's ``reference``, all optional): ``norm_mean`` and ``norm_std`` of one frame's
L2 norm, ``channel_mean`` and ``channel_std`` per channel (axis 1 of [T, C, ...]). Where the space has none,
the parents' own figures stand in, and the JSON says so.
"""

from __future__ import annotations

from typing import Any

import torch


def frame_norms(x: torch.Tensor) -> torch.Tensor:
    """[T, ...] -> [T] float32 L2 norm of each frame (accumulated in float32)."""
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1).float(), dim=1)


def channel_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[T, C, ...] -> per-channel mean and std [C] (a frame with one axis counts as C channels of size 1)."""
    c = x.shape[1] if x.dim() > 1 else 1
    flat = x.float().transpose(0, 1).reshape(c, -1) if x.dim() > 1 else x.float().reshape(1, -1)
    return flat.mean(dim=1), flat.std(dim=1, unbiased=False)


def cross_stats(child: torch.Tensor, parents: list[torch.Tensor], reference: dict[str, Any],
                share: list[float] | None) -> dict[str, Any]:
    """Figures that say whether the child still looks like the space's latents (see the module doc)."""
    out: dict[str, Any] = {"parent_share": [round(s, 6) for s in share] if share else []}
    if not child.is_floating_point():
        out["note"] = "token ids: only parent shares apply"
        return out | {"norm_z": 0.0, "norm_ratio": 1.0, "channel_mean_divergence": 0.0, "channel_std_divergence": 0.0}
    child_norm = frame_norms(child).mean().item()
    parent_norms = torch.cat([frame_norms(p) for p in parents])
    if "norm_mean" in reference and "norm_std" in reference:
        mean, std, source = float(reference["norm_mean"]), float(reference["norm_std"]), "space reference"
    else:
        mean, std, source = parent_norms.mean().item(), parent_norms.std(unbiased=False).item(), "parents"
    c_mean, c_std = channel_moments(child)
    moments = [channel_moments(p) for p in parents]
    p_mean = torch.stack([m for m, _ in moments]).mean(0)
    p_std = torch.stack([s for _, s in moments]).mean(0)
    ref_std = torch.tensor(reference["channel_std"], dtype=torch.float32) if len(reference.get("channel_std", [])) == len(c_std) else p_std
    out.update(
        norm_mean=round(child_norm, 6),
        norm_z=round((child_norm - mean) / max(std, 1e-12), 6),
        norm_ratio=round(child_norm / max(parent_norms.mean().item(), 1e-12), 6),
        channel_mean_divergence=round(((c_mean - p_mean).abs() / ref_std.clamp_min(1e-12)).mean().item(), 6),
        channel_std_divergence=round((c_std / p_std.clamp_min(1e-12) - 1).abs().mean().item(), 6),
        reference=source,
    )
    return out
