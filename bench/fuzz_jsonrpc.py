"""Bodies for the wallet JSON-RPC port (the in-process EVM served over HTTP, no credentials): malformed JSON,
requests with hostile methods, ids and params, batches, and requests with broken HTTP framing. Pure."""

from __future__ import annotations

import random
from typing import Any

from fuzz_case import JSONRPC, Case
from fuzz_values import big_int, deep, dumps, mutate_json, nasty, show

METHODS = [
    "eth_chainId", "eth_blockNumber", "eth_getBalance", "eth_call", "eth_estimateGas", "eth_getCode", "eth_getLogs",
    "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getTransactionByHash", "eth_getTransactionReceipt",
    "eth_getTransactionCount", "eth_sendRawTransaction", "eth_sendTransaction", "eth_gasPrice", "eth_feeHistory",
    "eth_maxPriorityFeePerGas", "eth_getStorageAt", "eth_newFilter", "eth_getFilterChanges", "eth_uninstallFilter",
    "eth_accounts", "eth_sign", "eth_signTransaction", "eth_createAccessList", "eth_getProof", "net_version",
    "web3_clientVersion", "web3_sha3", "evm_mine", "evm_snapshot", "testing_timeTravel", "debug_traceTransaction",
    "eth_subscribe", "personal_unlockAccount", "", "x" * 10_000, "__class__", "eth_getBalance\x00",
]
ADDRESS = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"  # eth-tester's first dev account


def _param(rng: random.Random) -> Any:
    return rng.choice([
        ADDRESS, ADDRESS.lower(), "0x" + "00" * 20, "0x123", "latest", "pending", "earliest", "0x0", "0x1", "0x" + "f" * 70,
        "0x" + "ab" * 32, "0x" + "zz", "-0x1", {"to": ADDRESS, "data": "0x"}, {"from": ADDRESS, "to": ADDRESS, "value": "0x1"},
        {"fromBlock": "0x0", "toBlock": "latest"}, {"fromBlock": "0x0", "toBlock": "0x" + "f" * 64},
        {"from": ADDRESS, "gas": "0x" + "f" * 64}, {"data": "0x" + "60" * 5000}, [ADDRESS], 1, -1, 2**256, None,
        nasty(rng, deep_share=0.02),
    ])


def _request(rng: random.Random) -> dict[str, Any]:
    method = rng.choice(METHODS)
    params: Any = [_param(rng) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.1:
        params = nasty(rng)
    ident = rng.choice([1, 0, "a", None, 2**64, big_int(5000), [], {}, 1.5, "x" * 1000])
    return {"jsonrpc": rng.choice(["2.0", "2.0", "2.0", "1.0", 2, None]), "id": ident, "method": method, "params": params}


def jsonrpc_case(rng: random.Random) -> Case:
    op = rng.choice(["request", "request", "request", "mutated", "mutated", "text", "random", "batch", "http"])
    raw_http = None
    if op == "request":
        value = _request(rng)
        body, note = dumps(value).encode(), f"request {show(value, 200)}"
    elif op == "mutated":
        value, what = mutate_json({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [ADDRESS, "latest"]}, rng,
                                  deep_share=0.03)
        body, note = dumps(value).encode(), f"eth_getBalance request, {what}"
    elif op == "text":
        value = rng.choice(["", "{", "[]", "null", "1", '"x"', "{}", "[{}]", "[1,2]", deep(100_000), deep(100_000, "object"),
                            deep(1000), big_int(5000), "NaN", '{"method":"eth_chainId","id":1,"id":2}'])
        body, note = dumps(value).encode() if not isinstance(value, str) else value.encode(), f"body {show(value)}"
    elif op == "random":
        body = rng.randbytes(rng.randint(1, 300))
        note = f"{len(body)} random bytes: {body[:32].hex()}"
    elif op == "batch":
        n = rng.choice([0, 1, 5, 50, 1000])
        body = dumps([_request(rng) if rng.random() < 0.3 else {"jsonrpc": "2.0", "id": i, "method": "eth_chainId"}
                      for i in range(n)]).encode()
        note = f"batch of {n}"
    else:
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
        how = rng.choice(["abc", "-1", "99999999999", "", "1 2", "0x10", "chunked", "get", "huge_header", "short"])
        length = {"chunked": None, "get": None, "short": str(len(body) + 10)}.get(how, how)
        head = [f"{'GET' if how == 'get' else 'POST'} / HTTP/1.1", "Host: localhost", "Content-Type: application/json",
                "Connection: close"]
        if length is not None:
            head.append(f"Content-Length: {length}")
        if how == "chunked":
            head.append("Transfer-Encoding: chunked")
        if how == "huge_header":
            head.append("X-Pad: " + "a" * 70_000)
            head.append(f"Content-Length: {len(body)}")
        raw_http = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        note = f"HTTP framing: {how}"
    return Case("jsonrpc", JSONRPC, note, body=body, raw_http=raw_http, auth="none")
