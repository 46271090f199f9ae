"""Preview decoders: latent frames -> a PNG picture, registered by name as data.

A latent space names its decoder in ``SpaceRecord.decoder``; ``render_preview(space.decoder, frames)`` draws
frames of that space. Entries are ``"module:function"`` strings, imported on first use, so the registry costs
nothing until a picture is asked for (the tileworld decoder loads a small torch model). A decoder takes frames
(T, *frame_shape) and ``frames=`` (how many of the last ones to draw) and returns PNG bytes.

The registry lives in the domain (the gallery's pictures draw frames with it); the demo imports it from here.
"""

from __future__ import annotations

import importlib
import io
from typing import Any

from PIL import Image

from multiverse.errors import NotFound

DECODERS: dict[str, str] = {
    "tileworld-v1": "multiverse.tileworld.latents:preview_png",  # the reference world model (multiverse/tileworld)
}
MAX_SIDE = 1024  # a decoded picture's longest side, in pixels: a huge frame is downsampled to this


def render_preview(decoder: str, frames: Any, *, count: int = 1) -> bytes:
    """PNG bytes of the last ``count`` frames (T, *frame_shape) drawn by the registered ``decoder``."""
    if decoder not in DECODERS:
        known = ", ".join(sorted(DECODERS)) or "none"
        raise NotFound(f"no preview decoder named {decoder!r} (registered: {known}): register the space with one of "
                       "them, or add yours to multiverse.pictures.decoders.DECODERS", decoder=decoder)
    module, _, function = DECODERS[decoder].partition(":")
    return getattr(importlib.import_module(module), function)(frames, frames=count)


def decode_frame(decoder: str, frame: Any, *, max_side: int = MAX_SIDE) -> bytes:
    """PNG bytes of one latent ``frame`` (*frame_shape) drawn by ``decoder``, downsampled so that neither side
    passes ``max_side`` pixels (the picture of a huge frame stays a bounded image)."""
    png = render_preview(decoder, frame[None], count=1)
    with Image.open(io.BytesIO(png)) as image:
        if max(image.size) <= max_side:
            return png
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
