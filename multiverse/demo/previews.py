"""Preview decoders: latent frames -> a PNG picture, registered by name as data.

A latent space names its decoder in ``SpaceRecord.decoder``; ``render_preview(space.decoder, frames)`` draws
frames of that space. Entries are ``"module:function"`` strings, imported on first use, so the registry costs
nothing until a picture is asked for (the tileworld decoder loads a small torch model).
"""

from __future__ import annotations

import importlib
from typing import Any

from multiverse.errors import NotFound

DECODERS: dict[str, str] = {
    "tileworld-v1": "multiverse.tileworld.latents:preview_png",  # the reference world model (multiverse/tileworld)
}


def render_preview(decoder: str, frames: Any, *, count: int = 1) -> bytes:
    """PNG bytes of the last ``count`` frames (T, *frame_shape) drawn by the registered ``decoder``."""
    if decoder not in DECODERS:
        known = ", ".join(sorted(DECODERS)) or "none"
        raise NotFound(f"no preview decoder named {decoder!r} (registered: {known}): register the space with one of "
                       "them, or add yours to multiverse.demo.previews.DECODERS", decoder=decoder)
    module, _, function = DECODERS[decoder].partition(":")
    return getattr(importlib.import_module(module), function)(frames, frames=count)
