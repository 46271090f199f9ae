"""Pictures of vectors: a frame through its space's decoder, anything else as a chart that tells vectors apart.

``Pictures`` (service.py) renders each picture once and keeps it; ``picture_path`` names where it is served;
``DECODERS`` (decoders.py) registers the decoders by name; chart.py and projection.py are the pure drawing.
"""

from multiverse.pictures.decoders import DECODERS, decode_frame, render_preview
from multiverse.pictures.paths import check_ref, picture_path
from multiverse.pictures.service import Picture, Pictures

__all__ = ["DECODERS", "Picture", "Pictures", "check_ref", "decode_frame", "picture_path", "render_preview"]
