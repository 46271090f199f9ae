"""The wallet JSON-RPC port serves wallets, not testers (issue 13 items 1 and 6).

Attacks that worked before: ``eth_sendTransaction`` from the in-process EVM's unlocked accounts, ``evm_revert`` (it
undid a confirmed sale), ``testing_timeTravel`` (it expired every listing), any web page reading and writing the
port through ``Access-Control-Allow-Origin: *``, deeply nested JSON killing the process, error codes web3 could not
read, and the demo minting and funding from well-known keys on a chain that is not a development chain.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.exceptions import BadResponseFormat, ContractLogicError, Web3RPCError

from multiverse import errors
from multiverse.chain import ChainConfig
from multiverse.chain.devchain import ANVIL_CHAIN_ID, DEV_CHAINS, IN_PROCESS_CHAIN_ID, require_dev_chain
from multiverse.chain.http_rpc import MAX_BATCH, MAX_BODY, MAX_DEPTH, JsonRpcServer
from multiverse.chain.memory import InProcessChain
from multiverse.chain.rpc_gate import CALL_GAS_CAP, WALLET_METHODS
from multiverse.chain.trader import Trader
from multiverse.config import Settings
from multiverse.market.wiring import MarketSettings
from tests.chain.harness import anvil_binary, key_for
from tests.support.need import missing

ETHER = 10**18
ADMIN = Account.from_key(key_for("token admin")).address  # kept apart from the minter's key
GALLERY = "https://gallery.example"
FOREIGN = "https://evil.example"
JSON = {"Content-Type": "application/json"}
TESTERS = [  # eth-tester's methods a wallet never needs, each an attack on a shared chain
    ("eth_sendTransaction", lambda c: [{"from": c.dev_accounts[0], "to": ADMIN, "value": hex(ETHER)}]),
    ("evm_snapshot", lambda c: []),
    ("evm_revert", lambda c: ["0x1"]),
    ("evm_mine", lambda c: []),
    ("testing_timeTravel", lambda c: [2**40]),
    ("eth_sign", lambda c: [c.dev_accounts[0], "0x1234"]),
    ("eth_signTransaction", lambda c: [{"from": c.dev_accounts[0], "to": ADMIN}]),
    ("eth_signTypedData_v4", lambda c: [c.dev_accounts[0], "{}"]),
    ("personal_sendTransaction", lambda c: [{"from": c.dev_accounts[0], "to": ADMIN}, ""]),
    ("personal_unlockAccount", lambda c: [c.dev_accounts[0], "", 0]),
    ("eth_newFilter", lambda c: [{}]),
    ("debug_traceTransaction", lambda c: ["0x" + "00" * 32]),
    ("admin_peers", lambda c: []),
]


@pytest.fixture(scope="module")
def chain() -> Iterator[InProcessChain]:
    c = InProcessChain(ChainConfig(admin=ADMIN))
    yield c
    c.close()


@contextmanager
def serving(chain: InProcessChain, **options) -> Iterator[str]:
    server = JsonRpcServer(chain, "127.0.0.1:0", **options).start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="module")
def port(chain) -> Iterator[str]:
    """The port as `multiverse up` opens it by default: no CORS origins, no dev methods."""
    with serving(chain) as url:
        yield url


def rpc(url: str, method: str, params: list | None = None, headers: dict | None = None) -> dict:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": [] if params is None else params}
    response = requests.post(url, data=json.dumps(body), headers={**JSON, **(headers or {})}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def state(chain: InProcessChain) -> tuple:
    """What a tester's method would change: the head, its time, and the dev account's nonce and balance."""
    w3, dev = chain.web3, chain.dev_accounts[0]
    block = w3.eth.get_block("latest")
    return block["number"], block["timestamp"], w3.eth.get_transaction_count(dev), w3.eth.get_balance(ADMIN)


def test_the_method_matrix_wallet_methods_answer_tester_methods_are_refused(chain, port):
    token, minter = chain.contracts.token, chain.minter
    first = chain.web3.eth.get_block(1)
    tx = first["transactions"][0].to_0x_hex()
    supports_erc721 = "0x01ffc9a7" + "80ac58cd".ljust(64, "0")
    wallet_calls = {
        "eth_chainId": [],
        "net_version": [],
        "net_listening": [],
        "web3_clientVersion": [],
        "eth_syncing": [],
        "eth_accounts": [],
        "eth_blockNumber": [],
        "eth_getBalance": [minter, "latest"],
        "eth_getCode": [token, "latest"],
        "eth_getStorageAt": [token, "0x0", "latest"],
        "eth_getTransactionCount": [minter, "pending"],
        "eth_call": [{"to": token, "data": supports_erc721}, "latest"],
        "eth_estimateGas": [{"from": minter, "to": ADMIN, "value": "0x1"}],
        "eth_gasPrice": [],
        "eth_maxPriorityFeePerGas": [],
        "eth_feeHistory": [2, "latest", []],
        "eth_getBlockByNumber": ["latest", False],
        "eth_getBlockByHash": [first["hash"].to_0x_hex(), True],
        "eth_getBlockTransactionCountByNumber": ["0x1"],
        "eth_getBlockTransactionCountByHash": [first["hash"].to_0x_hex()],
        "eth_getTransactionByHash": [tx],
        "eth_getTransactionReceipt": [tx],
        "eth_getLogs": [{"fromBlock": "0x0", "toBlock": "latest", "address": token}],
    }
    assert set(wallet_calls) | {"eth_sendRawTransaction"} == WALLET_METHODS  # sent in the wallet flow below
    wrong = []
    for method, params in wallet_calls.items():
        answer = rpc(port, method, params)
        if "result" not in answer or "error" in answer or answer["id"] != 7:
            wrong.append((method, answer))
    before = state(chain)
    for method, params in TESTERS:
        error = rpc(port, method, params(chain)).get("error") or {}
        if error.get("code") != -32601 or method not in error.get("message", ""):
            wrong.append((method, error))
    assert wrong == []
    assert state(chain) == before  # nothing sent, reverted, mined or moved in time
    assert rpc(port, "eth_accounts")["result"] == []  # no unlocked account to spend
    assert rpc(port, "eth_call", wallet_calls["eth_call"])["result"].endswith("1")  # a real answer, not a stub


def test_the_dev_switch_re_enables_test_methods_and_is_off_by_default(chain):
    with serving(chain, dev_methods=True) as url:
        head = chain.block_number()
        snapshot = rpc(url, "evm_snapshot")["result"]
        assert rpc(url, "eth_accounts")["result"] == chain.dev_accounts
        assert "error" not in rpc(url, "evm_mine") and chain.block_number() == head + 1
        assert "error" not in rpc(url, "evm_revert", [snapshot]) and chain.block_number() == head
    assert MarketSettings().rpc_dev_methods is False
    assert Settings.from_env({}).market.rpc_dev_methods is False
    assert Settings.from_env({"MULTIVERSE_CHAIN_RPC_DEV_METHODS": "on"}).market.rpc_dev_methods is True
    with pytest.raises(errors.InvalidArgument, match="MULTIVERSE_CHAIN_RPC_DEV_METHODS.*maybe.*on or off"):
        Settings.from_env({"MULTIVERSE_CHAIN_RPC_DEV_METHODS": "maybe"}).market


def test_cors_answers_only_the_configured_origin(chain, port):
    def post(url: str, origin: str) -> requests.Response:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
        return requests.post(url, data=body, headers={**JSON, "Origin": origin}, timeout=30)

    def preflight(url: str, origin: str) -> requests.Response:
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "content-type", "Access-Control-Request-Private-Network": "true"}
        return requests.options(url, headers=headers, timeout=30)

    # By default no web page may use the port: no CORS header, preflights refused.
    assert "Access-Control-Allow-Origin" not in post(port, FOREIGN).headers
    refused = preflight(port, GALLERY)
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers

    with serving(chain, cors_origins=[GALLERY]) as url:
        ok = post(url, GALLERY)
        assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == GALLERY
        assert "Origin" in ok.headers["Vary"]
        foreign = post(url, FOREIGN)
        assert "Access-Control-Allow-Origin" not in foreign.headers  # the browser hides the answer from that page
        allowed = preflight(url, GALLERY)
        assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == GALLERY
        assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
        assert allowed.headers["Access-Control-Allow-Headers"].lower() == "content-type"
        assert allowed.headers["Access-Control-Allow-Private-Network"] == "true"
        denied = preflight(url, FOREIGN)
        assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied.headers

    env = {"MULTIVERSE_CHAIN_RPC_CORS_ORIGINS": "https://Gallery.example/, http://localhost:3000"}
    assert Settings.from_env(env).market.rpc_cors_origins == ("http://localhost:3000", GALLERY)
    assert MarketSettings().rpc_cors_origins == ()
    with pytest.raises(errors.InvalidArgument, match=r"MULTIVERSE_CHAIN_RPC_CORS_ORIGINS.*\*.*scheme://host"):
        Settings.from_env({"MULTIVERSE_CHAIN_RPC_CORS_ORIGINS": "*"}).market


def test_only_json_is_accepted_and_bounded_in_size_depth_and_batch(chain, port):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):  # what a page sends unpreflighted
        response = requests.post(port, data=body, headers={"Content-Type": content_type}, timeout=30)
        assert response.status_code == 415, content_type
        error = response.json()["error"]
        assert type(error["code"]) is int and "application/json" in error["message"]
    charset = requests.post(port, data=body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=30)
    assert charset.status_code == 200 and "result" in charset.json()

    deep = requests.post(port, data=b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), headers=JSON, timeout=30)
    assert deep.status_code == 400 and f"deeper than {MAX_DEPTH}" in deep.json()["error"]["message"]
    in_a_string = {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": [], "note": "[{" * 5000}
    assert rpc(port, "eth_blockNumber")["result"] == rpc_raw(port, in_a_string)["result"]  # brackets in strings

    huge = requests.post(port, data=b" " * (MAX_BODY + 1), headers=JSON, timeout=30)  # answered, not reset
    assert huge.status_code == 413 and f"over {MAX_BODY}" in huge.json()["error"]["message"]
    for garbage in (b"{not json", b'{"id": ' + b"9" * 5000 + b"}", b"\xff\xfe"):
        refused = requests.post(port, data=garbage, headers=JSON, timeout=30)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32700

    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []} for i in range(2)]
    answers = requests.post(port, data=json.dumps(batch), headers=JSON, timeout=30).json()
    assert [a["id"] for a in answers] == [0, 1] and all("result" in a for a in answers)
    too_many = requests.post(port, data=json.dumps(batch * (MAX_BATCH // 2 + 1)), headers=JSON, timeout=30)
    assert too_many.status_code == 413 and f"over {MAX_BATCH}" in too_many.json()["error"]["message"]
    empty = requests.post(port, data=b"[]", headers=JSON, timeout=30)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == -32600
    for bad in ({"jsonrpc": "2.0", "id": True, "method": "eth_chainId"}, {"id": 1, "method": ["eth_chainId"]}):
        assert rpc_raw(port, bad)["error"]["code"] == -32600
    for method in ("eth_estimateGas", "eth_call", "eth_getBalance", "eth_getLogs"):  # params missing: refused
        assert rpc(port, method, [])["error"]["code"] == -32602, method


def rpc_raw(url: str, payload: object) -> dict:
    response = requests.post(url, data=json.dumps(payload), headers=JSON, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


_SERVER = textwrap.dedent(
    """
    import sys
    from multiverse.chain import ChainConfig
    from multiverse.chain.http_rpc import JsonRpcServer
    from multiverse.chain.memory import InProcessChain
    server = JsonRpcServer(InProcessChain(ChainConfig(admin=sys.argv[1])), "127.0.0.1:0").start()
    print(server.url, flush=True)
    sys.stdin.read()  # serve until the test closes stdin
    """
)


def test_deeply_nested_json_leaves_the_server_up(tmp_path):
    """Run in its own process: before the fix, this input killed it with a segfault (py_ecc raises the recursion
    limit to 100,000; json.loads then overflows the handler thread's C stack)."""
    root = Path(__file__).resolve().parents[2]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, ADMIN], cwd=root, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), (tmp_path / "server.log").read_text()[-2000:]
        for body in (b"[" * 500_000 + b"]" * 500_000, b'{"a":' * 150_000 + b"1" + b"}" * 150_000):
            try:
                response = requests.post(url, data=body, headers=JSON, timeout=60)
            except requests.ConnectionError:
                response = None
            assert response is not None and response.status_code == 400, f"the server died: exit {proc.poll()}"
            assert response.json()["error"]["code"] == -32600
        assert proc.poll() is None and "result" in rpc(url, "eth_blockNumber")
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_errors_have_integer_codes_a_web3_client_reads(chain, port):
    w3 = Web3(HTTPProvider(port))
    with pytest.raises(Web3RPCError) as refused:
        w3.manager.request_blocking("evm_revert", ["0x1"])
    assert not isinstance(refused.value, BadResponseFormat)
    assert refused.value.rpc_response["error"]["code"] == -32601
    with pytest.raises(Web3RPCError) as invalid:
        w3.manager.request_blocking("eth_feeHistory", [5000, "latest", []])
    assert invalid.value.rpc_response["error"]["code"] == -32602 and "block_count" in invalid.value.message
    token = w3.eth.contract(address=chain.contracts.token, abi=chain.token_contract.abi)
    with pytest.raises(ContractLogicError) as reverted:  # a revert: code 3 with its bytes as data, as nodes send
        token.functions.ownerOf(12345).call()
    data = reverted.value.data
    assert isinstance(data, str) and data.startswith("0x") and len(data) >= 10
    assert w3.net.version == str(w3.eth.chain_id) == str(chain.chain_id())  # net_version agrees with eth_chainId


def test_a_looping_call_is_cut_at_the_gas_cap(chain, port):
    """A call that loops until its gas runs out held the chain's lock (every other caller, the market's writes
    too) for 20-25 s with the block's 30M gas; the port runs it with CALL_GAS_CAP gas."""
    loop = {"data": "0x5b600056"}  # JUMPDEST PUSH1 0 JUMP: forever
    for method, params in (("eth_call", [loop, "latest"]), ("eth_estimateGas", [loop]),
                           ("eth_call", [{**loop, "gas": hex(30_000_000)}, "latest"])):
        started = time.monotonic()
        error = rpc(port, method, params)["error"]
        assert error["code"] == 3 and "out of gas" in error["message"].lower()
        assert time.monotonic() - started < 10, method
    assert CALL_GAS_CAP <= 1_000_000


def test_a_wallet_still_works_without_unlocked_accounts(chain, port):
    w3 = Web3(HTTPProvider(port))
    assert w3.eth.accounts == []
    me, friend = Account.from_key(key_for("wallet flow me")), Account.from_key(key_for("wallet flow friend"))
    chain.fund(me.address, 5 * ETHER)  # through the in-process chain object, not the port

    # A signed transfer: the wallet signs locally and sends eth_sendRawTransaction.
    tip = w3.eth.max_priority_fee
    tx = {"type": 2, "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(me.address), "to": friend.address,
          "value": ETHER, "gas": 21_000, "maxPriorityFeePerGas": tip,
          "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + tip}
    tx_hash = w3.eth.send_raw_transaction(me.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    assert receipt["status"] == 1 and w3.eth.get_balance(friend.address) == ETHER
    assert w3.eth.get_transaction(tx_hash)["from"] == me.address

    # A contract write through the port (the client's Trader), and ether from the dev chain's well-known key.
    contracts = chain.contracts
    with Trader(port, me.key.to_0x_hex(), chain_id=contracts.chain_id, token=contracts.token,
                exchange=contracts.exchange) as trader:
        assert trader.approve_exchange() is True
        assert chain.is_approved_for_all(me.address, contracts.exchange)
        trader.fund_from_dev_account(2 * ETHER, to=friend.address)
    assert w3.eth.get_balance(friend.address) == 3 * ETHER


def test_the_stack_serves_the_port_with_its_settings(tmp_path):
    """As `multiverse up` opens it: the announced URL refuses test methods and answers CORS from the setting."""
    from tests.demo.conftest import serve

    settings = MarketSettings(chain=ChainConfig(admin=ADMIN), rpc_listen="127.0.0.1:0", poll_s=0,
                              rpc_cors_origins=(GALLERY,))
    with serve(tmp_path / "data", settings) as stack:
        url = stack.admin.chain_info().rpc_url
        assert rpc(url, "evm_revert", ["0x1"])["error"]["code"] == -32601
        assert rpc(url, "net_version")["result"] == str(IN_PROCESS_CHAIN_ID)
        answer = requests.post(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}),
                               headers={**JSON, "Origin": GALLERY}, timeout=30)
        assert answer.headers["Access-Control-Allow-Origin"] == GALLERY


@contextmanager
def anvil(workdir: Path, chain_id: int) -> Iterator[str]:
    """anvil on a free port with ``chain_id``; yields its URL."""
    binary = anvil_binary()
    if binary is None:
        missing("anvil (npm @foundry-rs/anvil)", "run: npm ci --prefix contracts")
    log = workdir / "anvil.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(binary), "--host", "127.0.0.1", "--port", "0", "--chain-id", str(chain_id)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (found := re.search(r"Listening on (\S+)", log.read_text(errors="replace"))):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.05)
        yield f"http://{found.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_demo_refuses_a_chain_that_is_not_a_development_chain(tmp_path):
    """anvil posing as Ethereum mainnet (chain id 1): the demo would mint tokens and fund wallets there."""
    from multiverse.demo import DemoConfig, run_demo
    from tests.demo.conftest import serve

    require_dev_chain(IN_PROCESS_CHAIN_ID, "the demo")
    require_dev_chain(ANVIL_CHAIN_ID, "the demo")
    dev_key = DEV_CHAINS[ANVIL_CHAIN_ID][1]  # anvil's first funded account, whatever its chain id
    with anvil(tmp_path, chain_id=1) as url:
        config = ChainConfig(kind="rpc", rpc_url=url, minter_key=dev_key, admin=ADMIN)
        settings = MarketSettings(chain=config, rpc_listen="", poll_s=0)
        with serve(tmp_path / "data", settings) as stack:
            lines: list[str] = []
            with pytest.raises(errors.FailedPrecondition, match=r"chain 1 is not a development chain.*the demo"):
                run_demo(stack.address, stack.admin_key, stack.data, DemoConfig(seed=5, ticks=8, save_every=8),
                         log=lines.append)
            assert lines == []
            with pytest.raises(errors.NotFound):  # refused before anything was saved
                stack.admin.get_space("tileworld-v1")
            info = stack.admin.chain_info()
            with Trader(url, key_for("demo buyer"), chain_id=1, token=info.token, exchange=info.exchange) as buyer:
                with pytest.raises(errors.FailedPrecondition, match="chain 1 is not a development chain"):
                    buyer.fund_from_dev_account(ETHER)
