"""An indexer in a process of its own, for tests/market/test_indexer_lease.py: attaches to the test's anvil node
and contracts, opens the test's PostgreSQL metadata, polls as holder ``holder`` and prints "ready" once it polls.
It never stops by itself: the test kills it (SIGKILL, so the lease is not released).

    python -m tests.market.indexer_proc '{"db": ..., "rpc": ..., "token": ..., "exchange": ..., "start": 3,
                                          "holder": "leader", "ttl": 1.5, "poll": 0.2}'
"""

from __future__ import annotations

import json
import sys
import threading

from multiverse.chain import ChainConfig
from multiverse.chain.rpc import RpcChain
from multiverse.market import Indexer, MarketDb
from multiverse.metadata import open_metadata
from tests.chain.harness import key_for


def main(argv: list[str]) -> None:
    args = json.loads(argv[1])
    chain = RpcChain(
        ChainConfig(kind="rpc", rpc_url=args["rpc"], minter_key=key_for("minter"), token=args["token"],
                    exchange=args["exchange"], from_block=args["start"])
    )
    meta = open_metadata(args["db"])
    indexer = Indexer(chain, MarketDb(meta, args["token"]), start_block=args["start"], holder=args["holder"],
                      lease_ttl_s=args["ttl"])
    indexer.start_polling(args["poll"])
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv)
