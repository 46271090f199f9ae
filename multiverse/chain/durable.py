"""The in-process EVM kept on disk: py-evm's key-value database in a SQLite file, committed after every mined
block, so a restart of the embedded stack finds the same chain (genesis, blocks, state, the deployed contracts).

- ``SqliteKV``: py-evm's ``BaseDB`` over one table of (bytes key, bytes value). Writes accumulate in one SQLite
  transaction that ``commit`` ends; nothing else is stored, and no value is ever interpreted (no pickle).
- ``DurableBackend``: eth-tester's py-evm backend on that database. It commits after each mined block (before the
  transaction's receipt is returned, so an acknowledged transaction is on disk) and after a snapshot revert; a
  crash loses at most the block being mined, which was never acknowledged. Reopened, it continues from the
  stored head; the dev accounts are the same (eth-tester derives them from fixed keys).

A directory it creates is 0700 and the database file 0600 (whatever the umask).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.exceptions import CanonicalHeadNotFound
from eth_tester.backends.pyevm.main import (
    ZERO_ADDRESS,
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_genesis_params,
    setup_tester_chain,
)

from multiverse.errors import FailedPrecondition

CHAIN_FILE = "chain.sqlite"


def private_dir(path: Path) -> None:
    """Make directory ``path`` (and its parents) if missing; one this call creates is 0700 (the chain, its
    minter key and its records are the owner's alone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; 0700 is what is meant whatever the umask


def private_file(path: Path) -> None:
    """Create file ``path`` empty with mode 0600 if it is missing (an existing file keeps its mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class SqliteKV(BaseDB):
    """bytes -> bytes in SQLite (WAL, synchronous FULL: a commit survives a power cut)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        private_file(self.path)  # SQLite gives its -wal and -shm files the database file's mode
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
            )
            self._conn.commit()

    def __getitem__(self, key: bytes) -> bytes:
        with self._lock:
            row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (bytes(key),)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (bytes(key), bytes(value)))

    def __delitem__(self, key: bytes) -> None:
        with self._lock:
            if self._conn.execute("DELETE FROM kv WHERE k = ?", (bytes(key),)).rowcount == 0:
                raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (bytes(key),)).fetchone() is not None

    def __iter__(self) -> Iterator[bytes]:  # pragma: no cover - py-evm does not iterate a chain database
        raise NotImplementedError("iterating the chain database is not supported")

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM kv").fetchone()[0])

    def commit(self) -> None:
        with self._lock:
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.rollback()  # whatever is uncommitted belongs to a block that was never mined
            self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteKV({self.path})"


class DurableBackend(PyEVMBackend):
    """eth-tester's py-evm backend whose chain lives in ``directory``/chain.sqlite. ``created`` tells whether this
    open made the genesis (a new chain) or continued a stored one."""

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        private_dir(directory)
        self.kv = SqliteKV(directory / CHAIN_FILE)
        # The tester chain class and the dev keys, from a throwaway in-memory genesis (the class is made there).
        keys, template = setup_tester_chain()
        chain_class = type(template)
        self.account_keys = keys
        base_db = AtomicDB(self.kv)
        try:
            self.chain = chain_class(base_db)
            self.created = False
        except CanonicalHeadNotFound:
            genesis_state = generate_genesis_state_for_keys(keys)
            self.chain = chain_class.from_genesis(base_db, get_default_genesis_params(), genesis_state)
            self.created = True
        self.kv.commit()

    def mine_blocks(self, num_blocks: int = 1, coinbase: Any = ZERO_ADDRESS) -> tuple[bytes, ...]:
        # On failure nothing is rolled back: the pending block's state lives in the same uncommitted writes.
        hashes = tuple(super().mine_blocks(num_blocks, coinbase))
        self.kv.commit()
        return hashes

    def revert_to_snapshot(self, snapshot: Any) -> None:
        super().revert_to_snapshot(snapshot)
        self.kv.commit()

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        raise FailedPrecondition(
            f"the durable in-process chain in {self.kv.path.parent} cannot be reset: move that directory aside to start anew"
        )

    def close(self) -> None:
        self.kv.close()
