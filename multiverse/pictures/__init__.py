"""Pictures of vectors: a frame through its space's decoder, anything else as a chart that tells vectors apart."""

from multiverse.pictures.paths import picture_path

__all__ = ["picture_path"]
