"""The tileworld world model: a small convolutional VAE over one-hot tile maps. Pure torch, no I/O.

    tiles (B, H, W) int --one_hot--> (B, K, H, W) --encoder--> mu, logvar (B, C, H/4, W/4)
    latent (B, C, h, w) --decoder--> tile logits (B, K, H, W) --argmax--> tiles (B, H, W)

The latent frame of a map is ``mu`` (deterministic). Training samples ``mu + sigma * eps`` and adds a KL
term towards N(0, 1) per latent element, so each channel stays roughly standard Gaussian: crossing worlds
interpolates latents, and the decoder has seen the neighbourhood of the prior, so decoded midpoints still
look like terrain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .tiles import NUM_TILES


@dataclass(frozen=True)
class VAEConfig:
    """Shape of the model. ``map_size`` tiles per side map to ``map_size // 4`` latent cells per side."""

    num_tiles: int = NUM_TILES
    latent_channels: int = 8
    hidden: int = 32
    map_size: int = 32

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one latent frame."""
        side = self.map_size // 4
        return (self.latent_channels, side, side)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _block(cin: int, cout: int, conv: type[nn.Module] = nn.Conv2d, **kw) -> nn.Sequential:
    """conv -> GroupNorm -> GELU (GroupNorm: batch-independent, and it trains several times faster here)."""
    return nn.Sequential(conv(cin, cout, **({"kernel_size": 3, "padding": 1} | kw)), nn.GroupNorm(8, cout), nn.GELU())


class TileVAE(nn.Module):
    """Encoder: two stride-2 stages (H -> H/4). Decoder: the mirror image with transposed convolutions."""

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        k, c, h = config.num_tiles, config.latent_channels, config.hidden
        self.encoder = nn.Sequential(
            _block(k, h),  # (B, h, H, W)
            _block(h, 2 * h, kernel_size=4, stride=2),  # (B, 2h, H/2, W/2)
            _block(2 * h, 2 * h),
            _block(2 * h, 2 * h, kernel_size=4, stride=2),  # (B, 2h, H/4, W/4)
            _block(2 * h, 2 * h),
            nn.Conv2d(2 * h, 2 * c, 1),  # (B, 2C, h, w): mu and logvar
        )
        self.decoder = nn.Sequential(
            _block(c, 2 * h),  # (B, 2h, h, w)
            _block(2 * h, 2 * h),
            _block(2 * h, 2 * h, nn.ConvTranspose2d, kernel_size=4, stride=2),  # (B, 2h, H/2, W/2)
            _block(2 * h, h),
            _block(h, h, nn.ConvTranspose2d, kernel_size=4, stride=2),  # (B, h, H, W)
            _block(h, h),
            nn.Conv2d(h, k, 1),  # (B, K, H, W) tile logits
        )

    def encode(self, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tiles (B, H, W) int64 -> (mu, logvar), each (B, C, H/4, W/4) float32."""
        x = F.one_hot(tiles, self.config.num_tiles).permute(0, 3, 1, 2).float()  # (B, K, H, W)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (B, C, h, w) -> tile logits (B, K, 4h, 4w)."""
        return self.decoder(latents)

    def forward(self, tiles: torch.Tensor, generator: torch.Generator | None = None):
        """Training pass: returns (logits (B, K, H, W), mu, logvar) with a reparameterised sample."""
        mu, logvar = self.encode(tiles)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        return self.decode(mu + eps * torch.exp(0.5 * logvar)), mu, logvar


def vae_loss(logits, tiles, mu, logvar, beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy per tile + ``beta`` * KL(q || N(0, 1)) in nats per tile. Returns (loss, parts)."""
    ce = F.cross_entropy(logits, tiles)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / tiles.numel()
    loss = ce + beta * kl
    return loss, {"ce": float(ce.detach()), "kl_per_tile": float(kl.detach())}
