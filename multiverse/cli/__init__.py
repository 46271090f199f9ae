"""`multiverse`: the command line (the console script ``multiverse = multiverse.cli:main``), an edge of the
package: it drives the service through ``multiverse.client`` and, for ``up``, wires the embedded stack and the
gRPC server (``services``). ``main`` (the parser), ``connect`` (address, key, TLS), ``commands`` (store, crossing,
rarity, sim), ``world`` and ``market`` (their command groups), ``up`` (the embedded stack)."""

from multiverse.cli.main import main

__all__ = ["main"]
