"""gRPC inputs: a plausible request for every method, then (family "fields") hostile values in its fields through
the generated message classes, or (family "proto_raw") the serialized bytes mutated or replaced by random ones.
Requests refer to live ids through ``Ctx``, resolved when the case is sent. Pure."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from typing import Any

from fuzz_case import SAVE, Case, Ctx
from fuzz_states import base_state, save_case
from fuzz_values import big_int, deep, dumps, mutate_json, nasty, show
from google.protobuf.descriptor import FieldDescriptor as FD
from grpc_health.v1 import health_pb2

from multiverse.v1 import market_pb2, multiverse_pb2, rarity_pb2, store_pb2

SERVICES = [(store_pb2, "Store"), (multiverse_pb2, "Multiverse"), (rarity_pb2, "Rarity"), (market_pb2, "Market")]
ADMIN_ONLY = {"RegisterSpace", "CreateApiKey", "CrossWorlds", "PreviewCross"}
WALLET = {"Claim", "DownloadVector", "PrepareListing", "SubmitListing"}
HEX64 = "ab" * 32


def methods() -> dict[str, tuple[str, Any, str]]:
    """Every RPC: full path -> (short name, request class, kind)."""
    out = {}
    for module, service in SERVICES:
        desc = module.DESCRIPTOR.services_by_name[service]
        for m in desc.methods:
            kind = "client_stream" if m.client_streaming else "server_stream" if m.server_streaming else "unary"
            out[f"/{desc.full_name}/{m.name}"] = (m.name, getattr(module, m.input_type.name), kind)
    out["/grpc.health.v1.Health/Check"] = ("Check", health_pb2.HealthCheckRequest, "unary")
    return out


def _snap(ctx: Ctx, i: int = 0) -> str:
    return ctx.snapshots[i % len(ctx.snapshots)] if ctx.snapshots else HEX64


def _siwe(ctx: Ctx) -> str:
    addr = ctx.wallet_address or "0x" + "11" * 20
    return (f"localhost wants you to sign in with your Ethereum account:\n{addr}\n\nSign in to Multiverse\n\n"
            "URI: http://localhost\nVersion: 1\nChain ID: 131277322940537\nNonce: abcdefgh12345678\n"
            "Issued At: 2026-01-01T00:00:00Z\nExpiration Time: 2099-01-01T00:00:00Z")


def base_request(name: str, cls: Any, ctx: Ctx, rng: random.Random) -> Any:
    """A plausible request for method ``name`` (``None`` for SaveSnapshot, built from a state instead); an empty
    ``cls`` for a method added since this list was written."""
    tag, s0, s1 = rng.randrange(1 << 20), _snap(ctx, 0), _snap(ctx, rng.randrange(1, 8))
    listing = market_pb2.MarketListing(seller=ctx.wallet_address, token="0x" + "22" * 20, token_id=HEX64, price="1000",
                                       fee_recipient="0x" + "00" * 20, fee="0", counter="0", salt="1", expiry="4102444800")
    ref = rarity_pb2.VectorRef(snapshot=s0, kind=rng.choice(["frame", "player"]), index=0)
    space = {"name": f"fz{tag}", "frame_shape": [4, 4, 8], "dtype": "float16", "player_dim": 8,
             "reference_json": '{"mean":[0,0,0,0,0,0,0,0],"std":[1,1,1,1,1,1,1,1]}'}
    cross = {"parents": [s0, s1], "op": rng.choice(["slerp", "linear", "ties", "crossover_kpoint"]), "params_json": "{}",
             "name": f"x{tag}", "align": "truncate", "seed": tag}
    return {
        "RegisterSpace": lambda: store_pb2.RegisterSpaceRequest(space=space),
        "GetSpace": lambda: store_pb2.GetSpaceRequest(name="fz"),
        "ListSpaces": store_pb2.ListSpacesRequest,
        "CreateWorld": lambda: store_pb2.CreateWorldRequest(name=f"w{tag}", space="fz"),
        "GetWorld": lambda: store_pb2.GetWorldRequest(name="fw"),
        "ListWorlds": lambda: store_pb2.ListWorldsRequest(space="fz", page_size=5),
        "SaveSnapshot": lambda: None,
        "FindMissingChunks": lambda: store_pb2.FindMissingChunksRequest(addresses=bytes(range(32)) * 2),
        "SaveChunksAtOnce": lambda: store_pb2.SaveChunksAtOnceRequest(  # one chunk of the 64-byte "state" that it is
            header=store_pb2.SaveHeader(world="fw", size=64, expected_parent=s0),
            manifest=store_pb2.ChunkManifest(size=64, addresses=bytes(range(32)), lengths=[64]),
            chunks=[store_pb2.SaveChunk(index=0, data=bytes(64))]),
        "LoadSnapshot": lambda: store_pb2.LoadSnapshotRequest(ref=rng.choice(["fw", "fw@main", s0])),
        "GetSnapshot": lambda: store_pb2.GetSnapshotRequest(ref=s0),
        "Log": lambda: store_pb2.LogRequest(ref="fw", page_size=2),
        "Heads": lambda: store_pb2.HeadsRequest(world="fw"),
        "CreateApiKey": lambda: store_pb2.CreateApiKeyRequest(principal=f"k{tag}"),
        "WhoAmI": store_pb2.WhoAmIRequest,
        "CrossWorlds": lambda: multiverse_pb2.CrossRequest(**cross),
        "PreviewCross": lambda: multiverse_pb2.CrossRequest(**cross),
        "ListOperators": multiverse_pb2.ListOperatorsRequest,
        "Score": lambda: rarity_pb2.ScoreRequest(space="fz", kind="frame",
                                                 vectors=rarity_pb2.Vectors(shape=[1, 128], dtype="float16", data=bytes(256))),
        "TopRare": lambda: rarity_pb2.TopRareRequest(space="fz", page_size=2),
        "RarityOf": lambda: rarity_pb2.RarityOfRequest(id=ref),
        "Neighbors": lambda: rarity_pb2.NeighborsRequest(id=ref, k=3),
        "Stats": lambda: rarity_pb2.StatsRequest(space="fz"),
        "WatchRare": lambda: rarity_pb2.WatchRareRequest(space="fz", tier="legendary"),
        "SignInNonce": market_pb2.SignInNonceRequest,
        "SignIn": lambda: market_pb2.SignInRequest(message=_siwe(ctx), signature="0x" + "12" * 65),
        "SetPayoutAddress": lambda: market_pb2.SetPayoutAddressRequest(address=ctx.wallet_address or "0x" + "11" * 20),
        "Claim": lambda: market_pb2.ClaimRequest(snapshot=s0, kind="frame", index=0),
        "GetToken": lambda: market_pb2.GetTokenRequest(token_id=HEX64),
        "ListTokens": lambda: market_pb2.ListTokensRequest(page_size=2),
        "Listings": lambda: market_pb2.ListingsRequest(token_id=HEX64),
        "History": lambda: market_pb2.HistoryRequest(token_id=HEX64),
        "DownloadVector": lambda: market_pb2.DownloadVectorRequest(token_id=HEX64),
        "PrepareListing": lambda: market_pb2.PrepareListingRequest(token_id=HEX64, price="1000"),
        "SubmitListing": lambda: market_pb2.SubmitListingRequest(listing=listing, signature=bytes(65)),
        "GetChainInfo": market_pb2.GetChainInfoRequest,
        "Check": lambda: health_pb2.HealthCheckRequest(service=rng.choice(["", "multiverse.v1.Store"])),
        "SetWorldVisibility": lambda: cls(world="fw", visibility=rng.choice(["private", "shared", "public"]), readers=
                                          ["fuzzer"] if rng.random() < 0.5 else []),
    }.get(name, cls)()


def default_auth(name: str, rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(["none", "bogus", "admin", "server", "wallet"])
    return "admin" if name in ADMIN_ONLY else "wallet" if name in WALLET else "server"


# hostile field values, by field name and then by type ------------------------------------------------------
def _b64json(value: Any) -> str:
    return base64.urlsafe_b64encode(dumps(value).encode()).decode()


def _string_for(field: str, ctx: Ctx, rng: random.Random) -> Any:
    s0 = _snap(ctx)
    long = "x" * 10_000
    pools: dict[str, list[Any]] = {
        "name|space|world|owner|principal|head|service|readers": ["", "fw", "FW", "a" * 63, "a" * 64, long, "a b", "a/b", "..", "-a",
                                                          "fw\x00", "é", "fw@main", "fzt", "x" * 70_000],
        "ref|snapshot|base|expected_parent|parents": [s0, s0[:8], s0[:7], s0.upper(), s0 + "0", "0" * 64, "fw", "fw@main", "fw@",
                                                      "@main", "fw@@main", "fw@main@x", long, "", "ffffffff", "g" * 64, "fw@" + long],
        "page_token": ["", "x", "AAAA", "====", "-1", s0, long, _b64json({}), _b64json(deep(100_000)), _b64json(big_int(5000)),
                       _b64json({"v": 1, "start": s0, "frontier": [nasty(rng)]}), _b64json(["0x1p+0", big_int(5000), 0]),
                       _b64json([nasty(rng), 1, 2]), _b64json(nasty(rng, deep_share=0.2))],
        "params_json|pipeline_json|reference_json|typed_data_json": [_json_field(field, rng) for _ in range(3)],
        "kind": ["frame", "player", "", "FRAME", long, "both"],
        "tier": ["rare", "", "mythic", "legendary", long],
        "dtype": ["float16", "F16", "", "float64", "bool", long, "uint8", "int64", "bfloat16"],
        "op": ["slerp", "", "nope", long, "ties", "dare_ties", "mutate_gaussian"],
        "visibility": ["private", "shared", "public", "", "PUBLIC", long],
        "align|player_policy|role|status": ["", "truncate", "resample", "last_n", "x", long, "admin", "server", "union", "sold"],
        "address|seller|fee_recipient|token|contract": ["", "0x" + "0" * 40, "0x123", "0x" + "G" * 40, "0x" + "aB" * 20,
                                                       long, ctx.wallet_address, "0x" + "11" * 21],
        "token_id|listing_hash": [HEX64, HEX64[:63], "0x" + HEX64, "", HEX64.upper(), long, "ab" * 33],
        "price|fee|counter|salt|expiry": ["0", "-1", "1e999", "9" * 5000, "0x10", "", "1.5", " 1", str(2**256), str(2**256 - 1)],
        "signature": ["", "0x", "0x" + "00" * 65, "0x" + "zz" * 65, long, "0x" + "12" * 64],
        "message": [_siwe(ctx).replace("Nonce: abcdefgh12345678", "Nonce: " + long), "", long, "\x00" * 100,
                    _siwe(ctx).replace("Chain ID: 131277322940537", "Chain ID: " + "9" * 5000), _siwe(ctx)[:50],
                    _siwe(ctx).replace("Issued At: 2026-01-01T00:00:00Z", "Issued At: 99999-99-99")],
        "description|model|version|decoder|idempotency_key|sha256": ["", long, "\x00", "x" * 1_000_000, "a b", HEX64, "é" * 5000],
    }
    for keys, pool in pools.items():
        if field in keys.split("|"):
            return rng.choice(pool)
    return rng.choice(["", long, "\x00", "é", "fw", s0])


def _json_field(field: str, rng: random.Random) -> str:
    valid = {"params_json": {"t": 0.5}, "pipeline_json": {"steps": [{"op": "slerp", "params": {"t": 0.5}}]},
             "reference_json": {"mean": [0.0] * 8, "std": [1.0] * 8}}.get(field, {})
    if rng.random() < 0.2:
        return rng.choice(["{", "[]", "null", "NaN", "1", '"x"', "{}" * 2, "\x00", "9" * 5000, "[" * 100_000 + "]" * 100_000])
    value, _ = mutate_json(valid, rng, deep_share=0.05)
    return dumps(value)


def _number_for(fd: Any, rng: random.Random) -> Any:
    return rng.choice({
        FD.TYPE_UINT32: [0, 1, 7, 1000, 1001, 2**31, 2**32 - 1],
        FD.TYPE_UINT64: [0, 1, 2**53 + 1, 2**63, 2**64 - 1],
        FD.TYPE_INT32: [-1, -(2**31), 2**31 - 1, 0, 1001],
        FD.TYPE_INT64: [-1, -(2**63), 2**63 - 1],
        FD.TYPE_DOUBLE: [float("nan"), float("inf"), -1e308, 0.0],
        FD.TYPE_BOOL: [True, False],
    }.get(fd.type, [0]))


def _repeated_for(fd: Any, ctx: Ctx, rng: random.Random) -> list[Any]:
    if fd.name == "frame_shape":
        return rng.choice([[], [0], [2**32 - 1] * 3, [1] * 100, [4, 4, 8, 0], [65536, 65536, 65536], [4, 4, 8]])
    if fd.name == "shape":
        return rng.choice([[], [1], [1, 128, 1], [2**32 - 1, 2**32 - 1], [0, 128], [1, 127], [2, 128], [1, 8]])
    if fd.name == "parents":
        s0 = _snap(ctx)
        return rng.choice([[], [s0], [s0] * 100, [s0, "x" * 10_000], [s0, "fw", "ft"], [s0, s0], ["fw", "fw@nohead"]])
    if fd.type == FD.TYPE_STRING:
        return [_string_for(fd.name, ctx, rng) for _ in range(rng.randint(0, 3))]
    return [_number_for(fd, rng) for _ in range(rng.randint(0, 3))]


def _mutate_field(msg: Any, ctx: Ctx, rng: random.Random, path: str = "") -> str:
    """Set one field (possibly nested) of ``msg`` to a hostile value; returns what was done."""
    fields = list(msg.DESCRIPTOR.fields)
    if not fields:
        return "(no fields)"
    fd = rng.choice(fields)
    where = f"{path}{fd.name}"
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        labels = getattr(msg, fd.name)
        value = rng.choice([{"k" * 65: "v"}, {str(i): "v" for i in range(33)}, {"a": "v" * 257}, {"": ""}, {"a": "x" * 100_000}])
        labels.update(value)
        return f"{where} = {show(value)}"
    if fd.is_repeated and fd.message_type is not None:  # a list of messages (SaveChunkBatch.chunks): each mutated
        items = getattr(msg, fd.name)
        del items[:]
        done = [_mutate_field(items.add(), ctx, rng, f"{where}[{i}].") for i in range(rng.randint(0, 3))]
        return f"{where} = [{'; '.join(done)}]"
    if fd.is_repeated:
        value = _repeated_for(fd, ctx, rng)
        del getattr(msg, fd.name)[:]
        getattr(msg, fd.name).extend(value)
        return f"{where} = {show(value)}"
    if fd.message_type is not None:
        return _mutate_field(getattr(msg, fd.name), ctx, rng, where + ".")
    if fd.type == FD.TYPE_STRING:
        value = _string_for(fd.name, ctx, rng)
    elif fd.type == FD.TYPE_BYTES:
        value = rng.choice([b"", rng.randbytes(rng.randint(1, 1000)), bytes(256), b"\xff" * 255, bytes(255), rng.randbytes(65)])
    else:
        value = _number_for(fd, rng)
    setattr(msg, fd.name, value)
    return f"{where} = {show(value)}"


def fields_case(rng: random.Random) -> Case:
    """A plausible request with one to three fields set to hostile values."""
    table = methods()
    path = rng.choice(list(table))
    name, cls, kind = table[path]
    if path == SAVE:
        return save_fields_case(rng)
    n = rng.choice([1, 1, 2, 3])
    seed = rng.randrange(1 << 30)

    def build(ctx: Ctx) -> tuple[list[bytes], str]:
        r = random.Random(seed)
        msg = base_request(name, cls, ctx, r)
        notes = [_mutate_field(msg, ctx, r) for _ in range(n)]
        return [msg.SerializeToString()], "; ".join(notes)

    return Case("fields", path, f"{n} field(s) mutated (seed {seed})", kind=kind, build=build, auth=default_auth(name, rng))


def save_fields_case(rng: random.Random) -> Case:
    """A valid state whose SaveHeader fields are hostile."""
    world, state = base_state(rng)
    key = rng.choice(["world", "head", "expected_parent", "idempotency_key", "size", "sha256", "labels"])
    value = {
        "world": rng.choice(["", "x" * 10_000, "FW", "ft" if world == "fw" else "fw", "nope", "fw\x00"]),
        "head": rng.choice(["", "x" * 10_000, "HEAD", "a/b", "main "]),
        "expected_parent": rng.choice([HEX64, "x" * 10_000, "0" * 63, "G" * 64]),
        "idempotency_key": rng.choice(["a b", "x" * 129, "é", "x" * 10_000, "\x00"]),
        "size": rng.choice([0, 1, 2**64 - 1, 1 << 30, (1 << 30) + 1, len(state) + 1]),
        "sha256": rng.choice([hashlib.sha256(b"other").hexdigest(), "x" * 10_000, HEX64.upper(), "0" * 63]),
        "labels": rng.choice([{"k" * 65: "v"}, {str(i): "v" for i in range(33)}, {"a": "v" * 257}, {"a": "x" * 100_000}]),
    }[key]
    return save_case("fields", world, state, f"SaveHeader.{key} = {show(value)}", rng, {key: value})


# raw protobuf bytes ---------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Raw protobuf bytes mutated: flips, cuts, random fields, bogus lengths, or plain random bytes."""
    op = rng.choice(["random", "flip", "flip", "cut", "append_field", "huge_length", "bad_utf8", "wrong_wire", "deep_group"])
    if op == "random" or not data:
        out = rng.randbytes(rng.choice([0, 1, 2, 5, 20, 200, 5000]))
    elif op == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        out = bytes(out)
    elif op == "cut":
        out = data[: rng.randrange(len(data))]
    elif op == "append_field":
        number, wire = rng.randint(1, 40), rng.choice([0, 1, 2, 5])
        payload = {0: _varint(rng.choice([0, 1, 2**63, 2**64 - 1])), 1: rng.randbytes(8), 5: rng.randbytes(4),
                   2: _varint(10) + rng.randbytes(10)}[wire]
        out = data + _varint(number << 3 | wire) + payload
    elif op == "huge_length":
        out = _varint(rng.randint(1, 12) << 3 | 2) + _varint(rng.choice([2**31, 2**32 + 5, 2**63])) + b"abc"
    elif op == "bad_utf8":
        out = _varint(rng.randint(1, 12) << 3 | 2) + _varint(4) + b"\xff\xfe\xc0\x80"
    elif op == "wrong_wire":
        out = _varint(rng.randint(1, 12) << 3 | rng.choice([3, 4, 6, 7])) + data
    else:
        depth = rng.choice([100, 10_000])
        out = (_varint(1 << 3 | 3) * depth) + (_varint(1 << 3 | 4) * depth)
        op = f"deep_group({depth})"
    return out, op


def raw_case(rng: random.Random) -> Case:
    """A method's request bytes mutated, or random bytes; a SaveSnapshot gets a stream of such messages."""
    table = methods()
    path = rng.choice(list(table))
    name, cls, kind = table[path]
    seed = rng.randrange(1 << 30)

    def build(ctx: Ctx) -> tuple[list[bytes], str]:
        r = random.Random(seed)
        if path == SAVE:
            world, state = base_state(r)
            msgs, _ = save_case("proto_raw", world, state, "", r).build(ctx)
            i = r.randrange(len(msgs))
            msgs[i], op = mutate_bytes(msgs[i], r)
            return (msgs[: i + 1] if r.random() < 0.5 else msgs), f"message {i} of {len(msgs)}: {op}"
        data = base_request(name, cls, ctx, r).SerializeToString()
        out, op = mutate_bytes(data, r)
        return [out], f"{op}: {out[:48].hex()}{'...' if len(out) > 48 else ''} ({len(out)} bytes)"

    return Case("proto_raw", path, f"raw bytes (seed {seed})", kind=kind, build=build, auth=default_auth(name, rng))


GENERATORS: dict[str, Callable[[random.Random], Case]] = {"fields": fields_case, "proto_raw": raw_case}
