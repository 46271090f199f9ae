"""The durable in-process chain (multiverse/chain/durable.py): blocks, state, contracts and the minter key kept
under a directory and found again on reopening; clear refusals when that directory is inconsistent."""

from __future__ import annotations

import json
import stat

import pytest

from multiverse.chain import ChainConfig, token_id_for
from multiverse.chain.durable import SqliteKV
from multiverse.chain.memory import InProcessChain
from multiverse.errors import FailedPrecondition
from tests.chain.harness import PROVENANCE, key_for


def test_a_reopened_chain_continues_with_the_same_contracts_and_minter(tmp_path):
    first = InProcessChain(ChainConfig(data_dir=tmp_path))
    contracts, minter = first.contracts, first.minter
    minted = first.mint(first.dev_accounts[1], token_id_for(b"kept"), PROVENANCE)
    head = first.block_number()
    first.close()
    assert stat.S_IMODE((tmp_path / "minter.key").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "contracts.json").read_text())["token"] == contracts.token

    again = InProcessChain(ChainConfig(data_dir=tmp_path))
    try:
        assert (again.contracts, again.minter) == (contracts, minter)
        assert again.block_number() == head  # no redeployment, no refunding: nothing new was mined
        assert again.owner_of(minted.token_id) == again.dev_accounts[1]
        assert again.token_info(minted.token_id).provenance == PROVENANCE
        assert again.mint(again.dev_accounts[2], token_id_for(b"new"), PROVENANCE).block_number == head + 1
    finally:
        again.close()


def test_refusals_name_the_cause(tmp_path):
    InProcessChain(ChainConfig(data_dir=tmp_path)).close()
    with pytest.raises(FailedPrecondition, match="holds no MINTER_ROLE"):
        InProcessChain(ChainConfig(data_dir=tmp_path, minter_key=key_for("someone else")))
    (tmp_path / "chain.sqlite").unlink()
    for extra in ("chain.sqlite-wal", "chain.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    with pytest.raises(FailedPrecondition, match="was just created empty"):
        InProcessChain(ChainConfig(data_dir=tmp_path))


def test_uncommitted_writes_are_not_kept(tmp_path):
    kv = SqliteKV(tmp_path / "kv.sqlite")
    kv[b"a"] = b"1"
    kv.commit()
    kv[b"b"] = b"2"  # a block that was never mined
    assert kv[b"b"] == b"2" and b"b" in kv
    kv.close()
    kv = SqliteKV(tmp_path / "kv.sqlite")
    assert kv[b"a"] == b"1" and b"b" not in kv
    del kv[b"a"]
    with pytest.raises(KeyError):
        kv[b"a"]
    kv.close()
