"""The Python client for game servers and admins, over gRPC: an edge of the package (the CLI and the demo are
built on it; the domain never imports it).

    from multiverse.client import Client
    with Client("localhost:50051", key) as mv:
        snap = mv.save_snapshot("my-world", state_bytes)      # compare-and-swap on the current head

``client`` (``Client``: the store, crossing and rarity calls, statuses mapped back to domain errors) and
``market`` (the Market service's calls, which ``Client`` inherits).
"""

from multiverse.client.client import AUTO, Client, from_rpc_error

__all__ = ["AUTO", "Client", "from_rpc_error"]
