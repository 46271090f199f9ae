"""The market's migration equals its tables; the in-process EVM is served as JSON-RPC that web3 clients use."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from web3 import HTTPProvider, Web3

from multiverse.chain.http_rpc import JsonRpcServer
from multiverse.market.tables import METADATA, TABLE_NAMES
from multiverse.metadata import open_metadata


def test_the_migration_creates_exactly_the_market_tables(tmp_path):
    with open_metadata(f"sqlite:///{tmp_path / 'm.db'}") as meta:
        assert set(sa.inspect(meta.engine).get_table_names()) >= TABLE_NAMES

        def ours(obj, name, type_, reflected, compare_to) -> bool:
            table = obj if type_ == "table" else getattr(obj, "table", None)
            return table is None or table.name in TABLE_NAMES

        with meta.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
            assert compare_metadata(context, METADATA) == []


def test_the_in_process_evm_is_served_as_json_rpc(memory_chain):
    server = JsonRpcServer(memory_chain.chain, "127.0.0.1:0").start()
    try:
        w3 = Web3(HTTPProvider(server.url))
        chain = memory_chain.chain
        assert w3.eth.chain_id == chain.chain_id()
        assert w3.eth.block_number == chain.block_number()
        assert w3.eth.get_block("latest")["hash"].to_0x_hex() == chain.block_hash(chain.block_number())
        assert w3.eth.get_code(chain.contracts.token) == chain.web3.eth.get_code(chain.contracts.token)
        token = w3.eth.contract(address=chain.contracts.token, abi=chain.token_contract.abi)
        assert token.functions.royaltyBps().call() == 500
    finally:
        server.close()
