"""A kept in-process chain reopened behind a gateway on another address points its token's metadata there: the
token admin (whose key the chain keeps) sets the new base URI once, with ERC-4906's BatchMetadataUpdate."""

from __future__ import annotations

from multiverse.chain import ChainConfig, token_id_for
from multiverse.chain.memory import InProcessChain
from tests.chain.harness import PROVENANCE

FIRST, SECOND = "http://127.0.0.1:8080/token/", "http://127.0.0.1:9191/token/"


def _updates(chain: InProcessChain, since: int) -> list:
    return [e for e in chain.get_logs(since) if e.name == "BatchMetadataUpdate"]


def test_a_reopened_chain_answers_the_new_token_uri(tmp_path):
    first = InProcessChain(ChainConfig(data_dir=tmp_path, base_uri=FIRST))
    token = first.mint(first.dev_accounts[1], token_id_for(b"a vector"), PROVENANCE).token_id
    uri = first.token_contract.functions.tokenURI(int(token, 16)).call()
    assert uri == FIRST + "0x" + token.removeprefix("0x").rjust(64, "0")
    head = first.block_number()
    first.close()

    same = InProcessChain(ChainConfig(data_dir=tmp_path, base_uri=FIRST))  # the same address: nothing to send
    assert same.block_number() == head
    same.close()

    moved = InProcessChain(ChainConfig(data_dir=tmp_path, base_uri=SECOND))
    try:
        assert moved.token_contract.functions.tokenURI(int(token, 16)).call() == uri.replace(FIRST, SECOND)
        (event,) = _updates(moved, head + 1)
        assert event.args == {"fromTokenId": 0, "toTokenId": 2**256 - 1}
        assert moved.owner_of(token) == moved.dev_accounts[1]  # the same chain, the same tokens
    finally:
        moved.close()

    unset = InProcessChain(ChainConfig(data_dir=tmp_path))  # no base URI configured: the token's is left alone
    try:
        assert unset.token_contract.functions.tokenURI(int(token, 16)).call().startswith(SECOND)
    finally:
        unset.close()
