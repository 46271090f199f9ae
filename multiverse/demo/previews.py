"""Preview decoders for the demo: the registry lives in the domain (multiverse.pictures.decoders), where the
gallery's pictures use it too; this module keeps the demo's import path."""

from multiverse.pictures.decoders import DECODERS, render_preview

__all__ = ["DECODERS", "render_preview"]
