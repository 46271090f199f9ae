"""The chain port's own promises: configuration, errors at the boundary, secrets, attach, reads."""

from __future__ import annotations

import logging
import socket

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from multiverse.chain import ChainConfig, Contracts, Secret, open_chain, token_id_for
from multiverse.chain._boundary import RevertDecoder, revert_data
from multiverse.chain.artifacts import load_artifact
from multiverse.chain.rpc import RpcChain, public_url
from multiverse.config import Settings
from multiverse.chain.wallet import LocalWallet
from multiverse.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from tests.chain.harness import PROVENANCE, key_for

SECRET_KEY = "0x" + keccak(text="a key that must never be shown").hex()


def _forms(key: str) -> list[str]:
    bare = key.removeprefix("0x").lower()
    return [bare, bare.upper(), bare[:40]]


def _assert_hidden(text: str, key: str = SECRET_KEY) -> None:
    for form in _forms(key):
        assert form not in text, "the minter key leaked"


def test_reads_and_approvals(net):
    token_id = net.mint(net.alice, "reads")
    tid = f"{token_id:064x}"
    assert net.chain.get_approved(tid) is None
    net.alice.transact("approve", net.token.functions.approve(net.bob.address, token_id))
    assert net.chain.get_approved(tid) == net.bob.address
    assert not net.chain.is_approved_for_all(net.alice.address, net.exchange.address)
    net.approve_exchange(net.alice)
    assert net.chain.is_approved_for_all(net.alice.address, net.exchange.address)
    assert net.chain.counter_of(net.alice.address) == 0
    assert not net.chain.salt_used(net.alice.address, 5) and not net.chain.salt_used(net.alice.address, 2**200)
    with pytest.raises(NotFound, match=f"token {token_id_for(b'none')}.*TokenDoesNotExist"):
        net.chain.owner_of(token_id_for(b"none"))


def test_blocks(net):
    head = net.chain.block_number()
    assert net.chain.block_hash(head).startswith("0x") and len(net.chain.block_hash(head)) == 66
    with pytest.raises(NotFound):
        net.chain.block_hash(head + 10)
    with pytest.raises(InvalidArgument):
        net.chain.block_hash(-1)
    with pytest.raises(InvalidArgument):
        net.chain.get_logs(5, 4)


def test_snapshots_isolate_tests(net):
    snapshot = net.snapshot()
    net.mint(net.alice, "ephemeral")
    net.revert(snapshot)
    with pytest.raises(NotFound):
        net.chain.owner_of(token_id_for(b"ephemeral"))


def test_minter_key_never_shows(memory_chain, caplog):
    caplog.set_level(logging.DEBUG)
    config = ChainConfig(kind="rpc", rpc_url="http://127.0.0.1:1/v3/apikey", minter_key=SECRET_KEY)
    for text in (repr(config), str(config), repr(config.minter_key), str(config.minter_key)):
        _assert_hidden(text)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(config.minter_key)

    # a minter without the role: the refusal names the account, not the key
    net = memory_chain
    wallet = LocalWallet(net.chain, SECRET_KEY)
    net.fund(wallet.address)
    call = net.token.functions.mint(wallet.address, b"\1" * 32, b"s".ljust(32, b"\0"), b"\2" * 32, 0, bytes(32))
    with pytest.raises(PermissionDenied) as caught:
        wallet.transact("mint", call)
    _assert_hidden(str(caught.value) + repr(caught.value) + repr(caught.value.details) + repr(wallet))
    assert wallet.address in str(caught.value)
    with pytest.raises(InvalidArgument) as bad:
        ChainConfig(minter_key=SECRET_KEY[:-1])
    _assert_hidden(str(bad.value) + repr(bad.value.details), SECRET_KEY[:-1])
    _assert_hidden(repr(net.chain) + net.chain.describe(), key_for("minter"))
    _assert_hidden(caplog.text)
    _assert_hidden(caplog.text, key_for("minter"))


def test_config_from_env_and_validation():
    env = {
        "MULTIVERSE_CHAIN_RPC_URL": "http://node:8545",
        "MULTIVERSE_CHAIN_MINTER_KEY": SECRET_KEY.removeprefix("0x"),
        "MULTIVERSE_CHAIN_CHAIN_ID": "31337",
        "MULTIVERSE_CHAIN_ROYALTY_BPS": "250",
    }
    config = Settings.from_env(env).market.chain
    assert (config.kind, config.rpc_url, config.chain_id, config.royalty_bps) == ("rpc", "http://node:8545", 31337, 250)
    assert config.minter_key == Secret(SECRET_KEY)
    assert Settings.from_env({}).market.chain.kind == "memory"
    for bad in (
        {"kind": "ganache"},
        {"kind": "rpc"},
        {"kind": "rpc", "rpc_url": "http://x"},
        {"royalty_bps": 10_001},
        {"token": "0x" + "11" * 20},
        {"timeout_s": 0},
    ):
        with pytest.raises(InvalidArgument):
            ChainConfig(**bad)
    with pytest.raises(InvalidArgument, match="MULTIVERSE_CHAIN_CHAIN_ID"):
        Settings.from_env({"MULTIVERSE_CHAIN_CHAIN_ID": "mainnet"}).market.chain


def test_public_url_hides_credentials_and_paths():
    assert public_url("https://user:pw@eth.example:8545/v3/SECRETKEY?k=1") == "https://eth.example:8545"
    assert public_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"


def test_unreachable_node_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unavailable, match=f"http://127.0.0.1:{port}") as caught:
        open_chain(ChainConfig(kind="rpc", rpc_url=f"http://127.0.0.1:{port}/path-secret", minter_key=SECRET_KEY))
    assert caught.value.retriable
    assert "path-secret" not in str(caught.value)


def test_wrong_chain_id_is_refused():
    with pytest.raises(FailedPrecondition, match="expects 1"):
        open_chain(ChainConfig(chain_id=1))


def test_rpc_attaches_to_deployed_contracts(anvil_chain):
    net = anvil_chain
    url = net.chain.web3.provider.endpoint_uri
    contracts = net.chain.contracts
    attached = RpcChain(
        ChainConfig(kind="rpc", rpc_url=url, minter_key=key_for("minter"), token=contracts.token, exchange=contracts.exchange)
    )
    assert attached.contracts.token == contracts.token
    assert attached.block_number() == net.chain.block_number()

    bare = RpcChain(ChainConfig(kind="rpc", rpc_url=url, minter_key=key_for("minter")), deploy_on_start=False)
    with pytest.raises(FailedPrecondition, match="no contracts attached"):
        bare.mint(net.alice.address, token_id_for(b"x"), PROVENANCE)
    with pytest.raises(FailedPrecondition, match="not a RareVector token"):
        bare.attach(Contracts(contracts.chain_id, contracts.exchange, contracts.token))
    with pytest.raises(FailedPrecondition, match="no contract"):
        bare.attach(Contracts(contracts.chain_id, net.alice.address, contracts.exchange))
    with pytest.raises(FailedPrecondition, match="deployed on chain 1"):
        bare.attach(Contracts(1, contracts.token, contracts.exchange))


def test_revert_decoding():
    decoder = RevertDecoder([load_artifact("RareVector").abi, load_artifact("Exchange").abi])
    error_string = keccak(text="Error(string)")[:4] + encode(["string"], ["no"])
    panic = keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11])
    used = keccak(text="ListingUsed(bytes32)")[:4] + b"\xab" * 32
    assert decoder.describe(error_string) == ("Error", "no")
    assert decoder.describe(panic)[1] == "Panic(0x11: arithmetic overflow or underflow)"
    assert decoder.describe(used) == ("ListingUsed", "ListingUsed(listingHash=0x" + "ab" * 32 + ")")
    assert decoder.describe(b"\x01\x02\x03\x04")[1] == "unknown error 0x01020304"
    assert decoder.describe(used[:10])[1].startswith("unknown error")
    assert decoder.describe(None)[1] == "reverted without a reason"
    assert isinstance(decoder.error("mint x", used), FailedPrecondition)

    from eth_tester.exceptions import TransactionFailed

    assert revert_data(TransactionFailed("execution reverted: " + repr(used))) == used
    assert revert_data(TransactionFailed("execution reverted: plain reason")) == "plain reason"


def test_wallet_and_chain_reprs_show_addresses_only(memory_chain):
    wallet = LocalWallet(memory_chain.chain, SECRET_KEY)
    assert repr(wallet) == f"LocalWallet({Account.from_key(SECRET_KEY).address})"
    assert memory_chain.chain.minter in repr(memory_chain.chain)
