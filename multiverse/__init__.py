"""Multiverse: a latent-state store, multiverse merge engine and marketplace for neural world models."""

__version__ = "0.1.0"
