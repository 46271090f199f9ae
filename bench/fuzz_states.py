"""Malformed state files: valid states (multiverse.state.synth) mutated in their bytes, framing, header JSON, metadata
and player records, each sent as a SaveSnapshot to a world of the fuzzer's own server key. Pure but for torch."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from collections.abc import Callable
from typing import Any

import torch
from fuzz_case import SAVE, Case, Ctx
from fuzz_values import Raw, big_int, dumps, mutate_json, nasty, show

from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state
from multiverse.state.synth import synth_state
from multiverse.v1 import store_pb2

FLOAT = SpaceRecord("fz", (4, 4, 8), "float16", 8)
TOKENS = SpaceRecord("fzt", (4, 4, 8), "int32", 8, vocab_size=512)
WORLDS = {"fw": FLOAT, "ft": TOKENS}  # world -> its space; both owned by the fuzzer's server key
CHUNK = 1 << 20


def split(state: bytes) -> tuple[dict[str, Any], bytes]:
    """A state file's header (parsed) and its data bytes."""
    (n,) = struct.unpack("<Q", state[:8])
    return json.loads(state[8 : 8 + n]), state[8 + n :]


def assemble(header_text: bytes, data: bytes, *, pad: bool = True) -> bytes:
    """A safetensors file from header text and data: the length prefix recomputed (and the header padded)."""
    if pad:
        header_text += b" " * (-len(header_text) % 8)
    return struct.pack("<Q", len(header_text)) + header_text + data


def base_state(rng: random.Random) -> tuple[str, bytes]:
    """A valid state for one of the fuzzer's worlds: 1-5 frames, 0-3 players."""
    world = rng.choice(["fw", "fw", "ft"])
    return world, synth_state(WORLDS[world], frames=rng.randint(1, 5), players=rng.randint(0, 3), seed=rng.randrange(1 << 30))


def save_case(family: str, world: str, state: bytes, note: str, rng: random.Random, header: dict | None = None) -> Case:
    """A SaveSnapshot of ``state`` to ``world`` at its current head; ``header`` overrides SaveHeader fields."""
    trailer = rng.random() < 0.1  # now and then the sha256 comes last, as a client that hashes while it streams

    def build(ctx: Ctx) -> tuple[list[bytes], str]:
        fields = {"world": world, "head": "main", "expected_parent": ctx.heads.get(world, ""), "size": len(state),
                  **(header or {})}
        msgs = [store_pb2.SaveSnapshotRequest(header=store_pb2.SaveHeader(**fields)).SerializeToString()]
        msgs += [store_pb2.SaveSnapshotRequest(chunk=state[i : i + CHUNK]).SerializeToString()
                 for i in range(0, len(state), CHUNK)]
        if trailer:
            msgs.append(store_pb2.SaveSnapshotRequest(sha256=hashlib.sha256(state).hexdigest()).SerializeToString())
        return msgs, ""

    return Case(family, SAVE, f"{world}: {note}", kind="client_stream", build=build, files={"state.safetensors": state})


# family "safetensors": bytes and framing ------------------------------------------------------------------
def framing_case(rng: random.Random) -> Case:
    world, state = base_state(rng)
    (n,) = struct.unpack("<Q", state[:8])
    op = rng.choice(["bitflip", "bitflip", "byteset", "truncate", "truncate_lie", "extend", "size_short", "header_len",
                     "garbage"])
    data, header = bytearray(state), {}
    if op == "bitflip":
        flips = [rng.randrange(8 + n) if rng.random() < 0.7 else rng.randrange(len(state)) for _ in range(rng.randint(1, 4))]
        for pos in flips:
            data[pos] ^= 1 << rng.randrange(8)
        note = f"bits flipped at bytes {flips}"
    elif op == "byteset":
        pos, value = rng.randrange(8 + n), rng.choice(b'\x00\xff"{}[],:\\ 9-e')
        data[pos] = value
        note = f"byte {pos} set to {value:#04x}"
    elif op == "truncate":
        cut = rng.randrange(len(state))
        data = data[:cut]
        note = f"truncated to {cut} of {len(state)} bytes"
    elif op == "truncate_lie":
        cut = rng.randrange(1, len(state))
        header["size"] = len(state)
        data = data[:cut]
        note = f"header.size {len(state)} but only {cut} bytes sent"
    elif op == "extend":
        extra = rng.randbytes(rng.randint(1, 64))
        data += extra
        note = f"{len(extra)} random bytes appended"
    elif op == "size_short":
        header["size"] = rng.randrange(1, len(state))
        note = f"header.size {header['size']} but {len(state)} bytes sent"
    elif op == "header_len":
        value = rng.choice([0, 1, 7, n - 1, n + 1, n + 8, len(state) - 8, len(state), 100_000_001, 2**63, 2**64 - 1])
        data[:8] = struct.pack("<Q", value % 2**64)
        note = f"header length prefix {value} (real {n})"
    else:
        data = bytearray(rng.randbytes(rng.randint(1, 300)))
        note = f"{len(data)} random bytes"
    if not data:
        data, note = bytearray(b"\x00"), note + " (one zero byte, since empty uploads are a separate case)"
    return save_case("safetensors", world, bytes(data), note, rng, header)


# family "header": the safetensors header JSON -------------------------------------------------------------
DTYPE_VALUES = [["F16"], {"F16": 1}, ["F16", "F32"], {}, [], 16, 1.5, None, True, "f16", "F64", "BOOL", "I8", "U64",
                "", "F16 ", "F16\x00", "x" * 10_000, Raw("NaN"), big_int(5000)]
SHAPE_VALUES = [[True, 4, 4, 8], [1, True, 4, 8], [False, 4, 4, 8], [1.0, 4, 4, 8], ["1", 4, 4, 8], [-1, 4, 4, 8],
                [0, 4, 4, 8], [2**64, 4, 4, 8], [big_int(400), 4, 4, 8], [big_int(5000), 4, 4, 8], [Raw("NaN"), 4, 4, 8],
                [Raw("1e309"), 4, 4, 8], [], [1], [1, 4, 4, 8, 1], [[1], 4, 4, 8], {"0": 1}, "1,4,4,8", None, 4,
                [1, 4, 4, 8] * 1000, [1, 4, 8, 4], [2**31, 4, 4, 8]]
OFFSET_VALUES = [[0], [0, 1, 2], [-1, 10], [10, 0], [True, 10], [0, 2**64], [0, big_int(5000)], [0, Raw("NaN")],
                 [0.0, 10.0], ["0", "10"], None, {}, 0, [[0], [10]], [0, 10**30]]


def header_case(rng: random.Random) -> Case:
    world, state = base_state(rng)
    header, data = split(state)
    op = rng.choice(["json", "json", "spec", "spec", "spec", "tensors", "text", "text", "toplevel"])
    if op == "json":
        header, note = mutate_json(header, rng)
        text = dumps(header).encode()
    elif op == "spec":
        name = rng.choice(["frames", "players"])
        key = rng.choice(["dtype", "dtype", "shape", "shape", "data_offsets"])
        value = rng.choice({"dtype": DTYPE_VALUES, "shape": SHAPE_VALUES, "data_offsets": OFFSET_VALUES}[key])
        header[name] = {**header[name], key: value}
        note = f"{name}.{key} = {show(value)}"
        text = dumps(header).encode()
    elif op == "tensors":
        choice = rng.choice(["drop_frames", "drop_players", "drop_meta", "extra", "renamed", "spec_list"])
        if choice == "drop_frames":
            header.pop("frames")
        elif choice == "drop_players":
            header.pop("players")
        elif choice == "drop_meta":
            header.pop("__metadata__")
        elif choice == "extra":
            header["extra"] = {"dtype": "F16", "shape": [0], "data_offsets": [len(data), len(data)]}
        elif choice == "renamed":
            header["Frames"] = header.pop("frames")
        else:
            header["frames"] = [header["frames"]]
        note, text = f"tensors: {choice}", dumps(header).encode()
    elif op == "text":
        text = dumps(header).encode()
        how = rng.choice(["cut", "insert", "nonutf8", "dupkey", "bom", "trailing"])
        if how == "cut":
            text = text[: rng.randrange(len(text))]
        elif how == "insert":
            pos = rng.randrange(len(text))
            text = text[:pos] + rng.choice([b"{", b"}", b"[", b'"', b",", b"\\", b"\x00", b"NaN"]) + text[pos:]
        elif how == "nonutf8":
            pos = rng.randrange(len(text))
            text = text[:pos] + b"\xff\xfe" + text[pos:]
        elif how == "dupkey":
            text = b'{"frames":1,' + text[1:]
        elif how == "bom":
            text = b"\xef\xbb\xbf" + text
        else:
            text += b"]"
        note = f"header text: {how}"
    else:
        value = nasty(rng, deep_share=0.05)
        text, note = dumps(value).encode(), f"header is {show(value)}"
    return save_case("header", world, assemble(text, data, pad=rng.random() < 0.8), note, rng)


# family "tensors": valid framing, bad contents ------------------------------------------------------------
def tensor_case(rng: random.Random) -> Case:
    world = rng.choice(["fw", "ft"])
    space = WORLDS[world]
    frames, players = rng.randint(1, 4), rng.randint(0, 3)
    g = torch.Generator().manual_seed(rng.randrange(1 << 30))
    if space.discrete:
        x = torch.randint(0, space.vocab_size, (frames, *space.frame_shape), generator=g, dtype=torch.int32)
    else:
        x = torch.randn((frames, *space.frame_shape), generator=g).to(torch.float16)
    v = torch.randn((players, space.player_dim), generator=g)
    people = [_player(i) for i in range(players)]
    op = rng.choice(["nonfinite", "token", "dtype", "rows", "frame_shape", "player_dim", "zero_frames", "vec_nonfinite"])
    if op in ("nonfinite", "token"):  # a bad value of the space's kind: NaN/Inf in floats, ids outside the vocabulary
        op = "token" if space.discrete else "nonfinite"
    flat = x.view(-1)
    at = rng.randrange(flat.numel())
    if op == "nonfinite":
        flat[at] = rng.choice([float("nan"), float("inf"), -float("inf")])
    elif op == "token":
        flat[at] = rng.choice([-1, 512, 2**31 - 1, -(2**31)])
    elif op == "dtype":
        x = x.to(rng.choice([torch.float32, torch.bfloat16, torch.int64, torch.uint8, torch.int16]))
    elif op == "rows":
        v = torch.randn((players + rng.choice([1, 2]), space.player_dim), generator=g)
    elif op == "frame_shape":
        x = x.reshape(frames, 4, 8, 4) if rng.random() < 0.5 else x[..., :7].contiguous()
    elif op == "player_dim":
        v = torch.randn((players, rng.choice([0, 7, 9, 64])), generator=g)
    elif op == "zero_frames":
        x = x[:0]
    else:
        v = torch.full((max(players, 1), space.player_dim), float("nan")) if players else v.to(torch.int32)
        people = [_player(i) for i in range(v.shape[0])]
    state = encode_state(x, v, space=space.name, players=people, timeline=[])
    shapes = f"frames {tuple(x.shape)} {x.dtype}, players {tuple(v.shape)} {v.dtype}"
    return save_case("tensors", world, state, f"{op} ({shapes})", rng)


def _player(i: int) -> dict[str, Any]:
    return {"uuid": f"00000000-0000-4000-8000-{i + 1:012d}", "name": f"p{i}",
            "stats": {"Health": 20.0, "foodLevel": 20, "XpLevel": 1, "Pos": [1.0, 2.0, 3.0], "Rotation": [0.0, 0.0],
                      "Dimension": "minecraft:overworld", "Inventory": [{"Slot": 0, "id": "minecraft:dirt", "count": 1}]}}


# families "metadata" and "players": the __metadata__ strings and the JSON inside them ----------------------
def metadata_case(rng: random.Random) -> Case:
    world, state = base_state(rng)
    header, data = split(state)
    meta = dict(header["__metadata__"])
    op = rng.choice(["drop", "drop", "format", "space", "nonstring", "timeline", "timeline", "timeline_text", "extra"])
    if op == "drop":
        key = rng.choice(["format", "space", "players", "timeline"])
        meta.pop(key)
        note = f"__metadata__.{key} missing"
    elif op in ("format", "space"):
        meta[op] = value = rng.choice(["", "multiverse.state/2", "fz ", "FZ", "fzt" if world == "fw" else "fz", "x" * 10_000])
        note = f"__metadata__.{op} = {show(value)}"
    elif op == "nonstring":
        key = rng.choice(["format", "space", "players", "timeline", "extra"])
        meta[key] = value = nasty(rng)
        note = f"__metadata__.{key} = {show(value)} (not a string)"
    elif op == "timeline":
        timeline = json.loads(meta["timeline"]) or [{"frame": 0, "text": "dawn"}]
        timeline, note = mutate_json(timeline, rng, deep_share=0.03)
        meta["timeline"], note = dumps(timeline), "timeline " + note
    elif op == "timeline_text":
        value = rng.choice(["", "{}", "[", "null", "[1]", '[{"frame":0}]', '[{"frame":0,"text":""}]', '[{"frame":-1,"text":"a"}]',
                            '[{"frame":true,"text":"a"}]', '[{"frame":0,"text":"a","x":1}]', "[" * 100_000 + "]" * 100_000,
                            '[{"frame":' + "9" * 5000 + ',"text":"a"}]', '[{"frame":0,"text":"' + "a" * 5000 + '"}]',
                            '[{"frame":1,"text":"a"},{"frame":0,"text":"b"}]', "[" + ",".join(['{"frame":0,"text":"a"}'] * 100_001) + "]"])
        meta["timeline"] = value
        note = f"timeline = {show(Raw(value))}"
    else:
        size = rng.choice([1, 100_000, 100_000, 9 << 20])  # 9 MiB: past the server's default header cap (8 MiB)
        meta[rng.choice(["extra", "", "__metadata__", "x" * 1000])] = "y" * size
        note = f"an extra metadata key of {size} characters"
    header["__metadata__"] = meta
    return save_case("metadata", world, assemble(dumps(header).encode(), data), note, rng)


STAT_VALUES: dict[str, list[Any]] = {
    "Health": [big_int(309), big_int(400), big_int(5000), Raw("1e309"), Raw("NaN"), -1, 1025, "20", True, None, [20]],
    "foodLevel": [20.5, 21, -1, True, big_int(309), "20", 2**64],
    "XpLevel": [2**31, -1, 1.5, big_int(5000), False],
    "Pos": [[1, 2], [1, 2, 3, 4], [Raw("NaN"), 0, 0], [big_int(309), 0, 0], [3e7 + 1, 0, 0], ["1", 0, 0], {"x": 1}, [True, 0, 0]],
    "Rotation": [[0], [Raw("Infinity"), 0], [big_int(400), 0], None],
    "Dimension": [1, None, "x" * 65, ["minecraft:overworld"], {"a": 1}],
    "Inventory": [{}, [1], [{}], [{"Slot": 0, "id": "", "count": 1}], [{"Slot": 300, "id": "a", "count": 1}],
                  [{"Slot": 0, "id": "a", "count": 0}], [{"Slot": 0, "id": "a", "count": big_int(309)}],
                  [{"Slot": 0, "id": ["a"], "count": 1}], [{"Slot": 0, "id": "a", "count": 1}] * 257,
                  [{"Slot": True, "id": "a", "count": 1}]],
}


def players_case(rng: random.Random) -> Case:
    world, state = base_state(rng)
    header, data = split(state)
    meta = dict(header["__metadata__"])
    people = json.loads(meta["players"])
    rows = header["players"]["shape"][0]
    op = rng.choice(["stat", "stat", "stat", "json", "json", "json", "uuid", "name", "wallet", "size", "count"])
    if not people and op != "count":
        op = "json"
    if op == "stat":
        key = rng.choice(list(STAT_VALUES))
        value = rng.choice(STAT_VALUES[key])
        i = rng.randrange(len(people))
        people[i] = {**people[i], "stats": {**people[i]["stats"], key: value}}
        note = f"players[{i}].stats.{key} = {show(value)}"
    elif op == "json":
        people, note = mutate_json(people, rng, deep_share=0.03)
        note = "players " + note
    elif op in ("uuid", "name", "wallet"):
        i = rng.randrange(len(people))
        options = {
            "uuid": [people[i]["uuid"].upper(), "not-a-uuid", "", 123, None, people[0]["uuid"], "{" + people[i]["uuid"] + "}",
                     people[i]["uuid"].replace("-", "")],
            "name": ["x" * 65, "x" * 10_000, 5, None, ["a"], "\x00", "\ud7ff"],
            "wallet": ["0x123", "0x" + "g" * 40, 0, None, "0x" + "a" * 40 + " ", "x" * 10_000],
        }[op]
        value = rng.choice(options)
        people[i] = {**people[i], op: value}
        note = f"players[{i}].{op} = {show(value)}"
    elif op == "size":
        i = rng.randrange(len(people))
        people[i] = {**people[i], "stats": {**people[i]["stats"], "Blob": "x" * rng.choice([65_536, 1_000_000])}}
        note = f"players[{i}] of {len(dumps(people[i]))} bytes"
    else:
        people = people + [_player(7)] if rng.random() < 0.5 or not people else people[:-1]
        note = f"{len(people)} players in metadata, {rows} vector rows"
    meta["players"] = dumps(people)
    header["__metadata__"] = meta
    return save_case("players", world, assemble(dumps(header).encode(), data), note, rng)


GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "safetensors": framing_case,
    "header": header_case,
    "tensors": tensor_case,
    "metadata": metadata_case,
    "players": players_case,
}
