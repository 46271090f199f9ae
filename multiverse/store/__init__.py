"""The store: latent spaces, worlds, heads and snapshots over the metadata and blob ports.

``store`` (the ``Store``: save, load, resolve, list), ``auth`` (API keys and who may read or write),
``visibility`` (who sees which world). The records that cross the metadata port are ``multiverse.records``,
below both the store and the metadata adapters. This package's ``__init__`` imports nothing.
"""
