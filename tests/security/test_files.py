"""The database and the chain's files are the owner's alone (issue 13 item 6): created 0600, in 0700 folders,
whatever the process's umask. Before, the metadata database and chain.sqlite were 0644 under the usual umask:
any local user could read every API key hash, wallet and the whole chain."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from eth_account import Account

from multiverse.app import App
from multiverse.chain import ChainConfig
from multiverse.config import Settings
from multiverse.market.wiring import MarketSettings
from tests.chain.harness import key_for

ADMIN = Account.from_key(key_for("token admin")).address


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_database_and_chain_files_are_created_private(tmp_path, mask):
    data = tmp_path / "data"
    settings = Settings(data_dir=data, grpc_addr="127.0.0.1:0",
                        market=MarketSettings(chain=ChainConfig(admin=ADMIN), rpc_listen="", poll_s=0))
    database, chain_dir = data / "multiverse.db", data / "chain"
    with umask(mask):
        app = App.open(settings)
        try:  # while it runs, with the WAL files beside the databases
            files = [database, *data.glob("multiverse.db-*"), *chain_dir.iterdir()]
            modes = {str(p.relative_to(data)): oct(mode(p)) for p in files}
        finally:
            app.close()
    assert {"multiverse.db", "chain/chain.sqlite", "chain/minter.key", "chain/contracts.json"} <= set(modes)
    assert "chain/chain.sqlite-wal" in modes and "multiverse.db-wal" in modes
    assert modes == {name: oct(0o600) for name in modes}
    assert oct(mode(chain_dir)) == oct(0o700)


def test_sqlite_sidecar_files_follow_the_database_mode(tmp_path):
    """SQLite gives its -wal and -shm files the database file's mode: a 0600 database keeps them 0600."""
    from multiverse.chain.durable import SqliteKV
    from multiverse.metadata import open_metadata

    with umask(0o022):
        kv = SqliteKV(tmp_path / "kv.sqlite")
        kv[b"k"] = b"v"
        kv.commit()
        with open_metadata(f"sqlite:///{tmp_path / 'm.db'}"):
            sidecars = sorted(tmp_path.glob("*-wal")) + sorted(tmp_path.glob("*-shm"))
            assert {p.name for p in sidecars} >= {"kv.sqlite-wal", "m.db-wal"}
            assert {p.name: oct(mode(p)) for p in sidecars} == {p.name: oct(0o600) for p in sidecars}
        kv.close()
    assert oct(mode(tmp_path / "kv.sqlite")) == oct(mode(tmp_path / "m.db")) == oct(0o600)


def test_an_existing_database_keeps_its_mode(tmp_path):
    """Only what the service creates is made private; an operator's own choice for an existing file stays."""
    from multiverse.metadata import open_metadata

    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    with open_metadata(f"sqlite:///{path}"):
        pass
    assert oct(mode(path)) == oct(0o640)
