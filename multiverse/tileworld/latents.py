"""The shell around the tileworld model: load committed weights (safetensors only), encode maps to latent
frames, decode latent frames to tiles, and describe the latent space.

Files beside this module: ``weights.safetensors`` (the VAE's tensors; ``__metadata__["tileworld"]`` repeats
name and config as JSON) and ``weights.json`` (the model card: config, seed, steps, accuracy reached on
held-out maps, the weights' sha256, reference statistics of the latent space and the 2x2 patterns for
plausibility). Loading reads the config from the card and checks the sha256 before any tensor is used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from multiverse.errors import Corrupt, InvalidArgument

from .model import TileVAE, VAEConfig
from .tiles import NUM_TILES, TILES

SPACE_NAME = "tileworld-v1"
MODEL_NAME = "tileworld-vae"
MODEL_VERSION = "1"
PLAYER_DIM = 16
WEIGHTS_PATH = Path(__file__).with_name("weights.safetensors")
CARD_PATH = WEIGHTS_PATH.with_suffix(".json")
_CHUNK = 256  # frames per forward pass


@dataclass(frozen=True)
class TileModel:
    """A loaded model (eval mode) and its card (the JSON beside the weights)."""

    vae: TileVAE
    card: dict[str, Any]

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one latent frame."""
        return self.vae.config.frame_shape

    @property
    def map_shape(self) -> tuple[int, int]:
        """(H, W) of one tile map."""
        return (self.vae.config.map_size, self.vae.config.map_size)


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model(weights: str | Path = WEIGHTS_PATH, card: str | Path | None = None) -> TileModel:
    """Load a model from a safetensors file and its card (default: same path with ``.json``).

    Raises ``Corrupt`` when the weights' sha256 differs from the one the card records.
    """
    weights = Path(weights)
    card_path = Path(card) if card is not None else weights.with_suffix(".json")
    info = json.loads(card_path.read_text())
    digest = sha256_file(weights)
    if info.get("weights_sha256") not in (None, digest):
        raise Corrupt(
            f"{weights} has sha256 {digest} but {card_path} records {info['weights_sha256']}: "
            "retrain with python -m multiverse.tileworld.train or restore both files together",
            path=str(weights),
        )
    vae = TileVAE(VAEConfig(**info["config"]))
    vae.load_state_dict(load_file(str(weights)), strict=True)
    vae.eval()
    return TileModel(vae, info)


@lru_cache(maxsize=1)
def default_model() -> TileModel:
    """The committed reference model (loaded once per process)."""
    return load_model(WEIGHTS_PATH, CARD_PATH)


@lru_cache(maxsize=1)
def reference_patterns() -> np.ndarray:
    """The 2x2 tile patterns seen in generated maps, from the committed card: sorted int64 (P,)."""
    return np.asarray(default_model().card["patterns_2x2"], dtype=np.int64)


def encode_maps(maps, model: TileModel | None = None) -> torch.Tensor:
    """Tile maps (T, H, W) of ids in [0, K) (numpy or torch, any integer dtype) -> latents (T, C, h, w)
    float32 (the posterior means)."""
    model = model or default_model()
    tiles = torch.as_tensor(np.asarray(maps) if not isinstance(maps, torch.Tensor) else maps)
    if tiles.ndim != 3 or tuple(tiles.shape[1:]) != model.map_shape:
        raise InvalidArgument(
            "maps", f"shape {tuple(tiles.shape)}",
            f"pass tile maps of shape (T, {model.map_shape[0]}, {model.map_shape[1]})",
        )
    if tiles.is_floating_point() or tiles.is_complex() or tiles.dtype == torch.bool:
        raise InvalidArgument("maps", f"dtype {tiles.dtype}", "pass integer tile ids (uint8 or int64)")
    tiles = tiles.long()
    if tiles.numel() and (int(tiles.min()) < 0 or int(tiles.max()) >= NUM_TILES):
        raise InvalidArgument(
            "maps", f"ids in [{int(tiles.min())}, {int(tiles.max())}]", f"tile ids must lie in [0, {NUM_TILES})"
        )
    with torch.inference_mode():
        out = [model.vae.encode(chunk)[0] for chunk in tiles.split(_CHUNK)]
    if not out:
        return torch.zeros((0, *model.frame_shape), dtype=torch.float32)
    return torch.cat(out).contiguous()  # (T, C, h, w)


def decode_latents(latents, model: TileModel | None = None) -> np.ndarray:
    """Latent frames (T, C, h, w) (numpy or torch, any float dtype) -> tile ids uint8 (T, H, W)."""
    model = model or default_model()
    z = latents if isinstance(latents, torch.Tensor) else torch.as_tensor(np.asarray(latents))
    if z.ndim != 4 or tuple(z.shape[1:]) != model.frame_shape:
        raise InvalidArgument(
            "latents", f"shape {tuple(z.shape)}",
            f"latent space {SPACE_NAME} expects (T, {', '.join(map(str, model.frame_shape))})",
        )
    if not z.is_floating_point():
        raise InvalidArgument("latents", f"dtype {z.dtype}", "pass float latents (float32, float16 or bfloat16)")
    z = z.float()
    if not bool(torch.isfinite(z).all()):
        raise InvalidArgument("latents", "NaN or Inf values", "pass finite latents")
    with torch.inference_mode():
        out = [model.vae.decode(chunk).argmax(dim=1) for chunk in z.split(_CHUNK)]
    if not out:
        return np.zeros((0, *model.map_shape), dtype=np.uint8)
    return torch.cat(out).to(torch.uint8).numpy()  # (T, H, W)


def space_spec(model: TileModel | None = None) -> dict[str, Any]:
    """The latent space of the reference model, as a plain dict with ``SpaceRecord``'s field names."""
    model = model or default_model()
    card = model.card
    return {
        "name": SPACE_NAME,
        "frame_shape": tuple(model.frame_shape),
        "dtype": "float32",
        "player_dim": PLAYER_DIM,
        "model": MODEL_NAME,
        "version": MODEL_VERSION,
        "vocab_size": 0,
        "reference": {
            **card["reference"],
            "weights_sha256": card["weights_sha256"],
            "tile_accuracy": card["accuracy"],
            "map_shape": list(model.map_shape),
            "tiles": [t.name for t in TILES],
        },
        "decoder": SPACE_NAME,
    }


def preview_png(latents, *, frames: int = 1, scale: int = 8) -> bytes:
    """The space's preview decoder: the last ``frames`` latent frames (T, C, h, w) decoded and drawn as PNG bytes
    (one map, or a film strip left to right)."""
    from .render import png_bytes, tiles_to_rgb

    tiles = decode_latents(latents[-max(1, frames):])  # (t, H, W)
    return png_bytes(tiles_to_rgb(tiles[0] if len(tiles) == 1 else tiles, scale))
