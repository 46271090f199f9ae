"""The state file's validation: every rejection names the field, the value and the fix."""

from __future__ import annotations

import itertools
import json
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multiverse.config import Limits
from multiverse.errors import InvalidArgument
from multiverse.records import SpaceRecord
from multiverse.state.format import decode_state, encode_state
from multiverse.state.synth import synth_state
from multiverse.state.validate import StateValidator, inspect_state

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8, max_players=4)
TOKENS = SpaceRecord("tokens", (6,), "uint16", 4, vocab_size=100)
LIMITS = Limits(max_frames=64, max_text_chars=40, max_timeline=5, max_player_json_bytes=2000)
UUID = "069a79f4-44e9-4726-a5be-fca90e38aaf5"


def player(**over):
    return {"uuid": UUID, "name": "steve", "stats": {"Health": 20.0, "Pos": [1.0, 64.0, -3.5]}, **over}


def state(frames=None, vectors=None, *, players=None, timeline=None, space=SPACE, meta_space=None):
    frames = torch.zeros((3, *space.frame_shape), dtype=getattr(torch, space.dtype)) if frames is None else frames
    players = [player()] if players is None else players
    vectors = torch.zeros((len(players), space.player_dim)) if vectors is None else vectors
    timeline = [{"frame": 1, "text": "night falls"}] if timeline is None else timeline
    return encode_state(frames, vectors, space=meta_space or space.name, players=players, timeline=timeline)


def check(tmp_path, data: bytes, space=SPACE):
    path = tmp_path / "state.safetensors"
    path.write_bytes(data)
    return inspect_state(path, space, LIMITS)


def rejects(tmp_path, data: bytes, field: str, *words: str, space=SPACE) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        check(tmp_path, data, space)
    err = info.value
    assert err.field == field, err.message
    for word in words:
        assert word in err.message, err.message
    return err


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_valid_float_states_pass_and_round_trip(tmp_path, dtype):
    space = SpaceRecord("demo", (4, 3, 2), dtype, 8, max_players=4)
    data = synth_state(space, frames=5, players=2, seed=3)
    info = check(tmp_path, data, space)
    assert (info.frame_count, info.player_count, info.space) == (5, 2, "demo")
    tensors, decoded = decode_state(data)
    assert tensors["frames"].dtype == getattr(torch, dtype) and tensors["frames"].shape == (5, 4, 3, 2)
    assert decoded.players == info.players and decoded.timeline == info.timeline


def test_same_state_encodes_to_same_bytes():
    assert synth_state(SPACE, frames=4, players=2, seed=9) == synth_state(SPACE, frames=4, players=2, seed=9)
    assert synth_state(SPACE, frames=4, players=2, seed=9) != synth_state(SPACE, frames=4, players=2, seed=10)


def test_discrete_state_passes_and_ids_outside_vocab_fail(tmp_path):
    ok = state(torch.randint(0, 100, (3, 6)).to(torch.uint16), space=TOKENS, vectors=torch.zeros(1, 4))
    assert check(tmp_path, ok, TOKENS).frame_count == 3
    bad = state(torch.full((3, 6), 100).to(torch.uint16), space=TOKENS, vectors=torch.zeros(1, 4))
    rejects(tmp_path, bad, "state.frames", "token ids from 100 to 100", "0..99", space=TOKENS)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_in_frames_are_rejected_with_their_index(tmp_path, dtype, bad):
    space = SpaceRecord("demo", (4, 3, 2), str(dtype).removeprefix("torch."), 8, max_players=4)
    frames = torch.zeros((3, 4, 3, 2), dtype=dtype)
    frames[2, 1, 0, 1] = bad
    rejects(tmp_path, state(frames, space=space), "state.frames", "(2, 1, 0, 1)", "finite", space=space)


def test_nan_in_player_vectors_is_rejected(tmp_path):
    vectors = torch.zeros((1, 8))
    vectors[0, 5] = float("nan")
    rejects(tmp_path, state(vectors=vectors), "state.players", "(0, 5)")


def test_shape_mismatch_names_both_shapes(tmp_path):
    err = rejects(tmp_path, state(torch.zeros((12, 4, 3, 3), dtype=torch.float16)), "state.frames.shape")
    assert "frames has shape (12, 4, 3, 3)" in err.message and "(T, 4, 3, 2)" in err.message


def test_dtype_mismatch_and_frame_count(tmp_path):
    rejects(tmp_path, state(torch.zeros((3, 4, 3, 2), dtype=torch.float32)), "state.frames.dtype", "float16")
    rejects(tmp_path, state(torch.zeros((0, 4, 3, 2), dtype=torch.float16), timeline=[]), "state.frames.shape[0]", "1 to 64")
    rejects(tmp_path, state(torch.zeros((65, 4, 3, 2), dtype=torch.float16)), "state.frames.shape[0]")


def test_player_vectors_shape_and_dtype(tmp_path):
    rejects(tmp_path, state(vectors=torch.zeros((1, 7))), "state.players.shape", "(P, 8)")
    rejects(tmp_path, state(vectors=torch.zeros((1, 8), dtype=torch.int32)), "state.players.dtype")
    rejects(tmp_path, state(vectors=torch.zeros((2, 8))), "state.players.shape[0]", "1 players")


def test_metadata_format_and_space(tmp_path):
    rejects(tmp_path, state(meta_space="other"), "state.__metadata__.space", "demo")
    data = state()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["format"] = "v0"
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    raw += b" " * (n - len(raw)) if len(raw) <= n else b""
    assert len(raw) == n
    rejects(tmp_path, data[:8] + raw + data[8 + n :], "state.__metadata__.format", "multiverse.state/1")


@pytest.mark.parametrize(
    ("players", "field"),
    [
        ([player(uuid="not-a-uuid")], "players[0].uuid"),
        ([player(uuid=UUID.upper())], "players[0].uuid"),
        ([player(), player()], "players[1].uuid"),
        ([player(stats={"Health": 2000})], "players[0].stats.Health"),
        ([player(stats={"Health": True})], "players[0].stats.Health"),
        ([player(stats={"foodLevel": 2.5})], "players[0].stats.foodLevel"),
        ([player(stats={"Pos": [1, 2]})], "players[0].stats.Pos"),
        ([player(stats={"Rotation": [0, "x"]})], "players[0].stats.Rotation[1]"),
        ([player(stats={"Dimension": 3})], "players[0].stats.Dimension"),
        ([player(stats={"Inventory": [{"Slot": 0, "id": "minecraft:dirt", "count": 0}]})], "players[0].stats.Inventory[0].count"),
        ([player(stats={"Inventory": [{"Slot": 0, "count": 1}]})], "players[0].stats.Inventory[0]"),
        ([player(stats=[])], "players[0].stats"),
        ([player(wallet="0x123")], "players[0].wallet"),
        ([player(name="x" * 65)], "players[0].name"),
        ([player(stats={"notes": "x" * 3000})], "players[0]"),
        (["steve"], "players[0]"),
    ],
)
def test_player_schema_violations(tmp_path, players, field):
    vectors = torch.zeros((len(players), 8))
    rejects(tmp_path, state(vectors=vectors, players=players), field)


def test_too_many_players(tmp_path):
    people = [player(uuid=f"00000000-0000-4000-8000-00000000000{i}") for i in range(5)]
    rejects(tmp_path, state(vectors=torch.zeros((5, 8)), players=people), "players", "at most 4")


@pytest.mark.parametrize(
    ("timeline", "field"),
    [
        ([{"frame": 3, "text": "x"}], "timeline[0].frame"),
        ([{"frame": -1, "text": "x"}], "timeline[0].frame"),
        ([{"frame": 2, "text": "a"}, {"frame": 1, "text": "b"}], "timeline[1].frame"),
        ([{"frame": 0, "text": ""}], "timeline[0].text"),
        ([{"frame": 0, "text": "y" * 41}], "timeline[0].text"),
        ([{"frame": 0, "text": "x", "color": "red"}], "timeline[0]"),
        ([{"frame": 0, "text": "x"}] * 6, "timeline"),
    ],
)
def test_timeline_violations(tmp_path, timeline, field):
    rejects(tmp_path, state(timeline=timeline), field)


def test_not_safetensors(tmp_path):
    rejects(tmp_path, b"abc", "state", "too short")
    rejects(tmp_path, struct.pack("<Q", 10**9) + b"{}", "state.header_length")
    rejects(tmp_path, struct.pack("<Q", 4) + b"{{{{", "state.header", "JSON")
    rejects(tmp_path, struct.pack("<Q", 2) + b"[]", "state.header", "object")


def test_truncated_and_trailing_bytes(tmp_path):
    data = state()
    rejects(tmp_path, data[:-1], "state", "truncated")
    rejects(tmp_path, data + b"\0", "state", "trailing")


def test_wrong_tensor_set(tmp_path):
    from safetensors.torch import save

    meta = {"format": "multiverse.state/1", "space": "demo", "players": "[]", "timeline": "[]"}
    frames = torch.zeros((1, 4, 3, 2), dtype=torch.float16)
    rejects(tmp_path, save({"frames": frames}, metadata=meta), "state.tensors")
    rejects(tmp_path, save({"frames": frames, "players": torch.zeros(0, 8), "x": torch.zeros(1)}, metadata=meta), "state.tensors")


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_never_pass_or_crash(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "s"
    path.write_bytes(blob)
    with pytest.raises(InvalidArgument):
        inspect_state(path, SPACE, LIMITS)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=255))
def test_single_byte_corruption_is_rejected_or_still_valid(tmp_path_factory, position, value):
    """Flipping one byte either gives another valid state or a clear InvalidArgument, never a crash."""
    data = bytearray(state())
    position %= len(data)
    data[position] = value
    path = tmp_path_factory.mktemp("flip") / "s"
    path.write_bytes(bytes(data))
    try:
        inspect_state(path, SPACE, LIMITS)
    except InvalidArgument as err:
        assert err.field.startswith(("state", "players", "timeline"))


def feed_in_pieces(data: bytes, cuts: list[int], space=SPACE):
    check = StateValidator(space, LIMITS, len(data))
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for a, b in itertools.pairwise(edges):
        check.feed(data[a:b])
    return check.finish()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), st.integers(0, 71), st.sampled_from(["ok", "nan", "inf"]))
def test_streaming_validation_does_not_depend_on_piece_boundaries(cuts, where, bad):
    """Validation fed in arbitrary pieces agrees with validation of the whole file, NaN positions included."""
    frames = torch.randn((3, 4, 3, 2)).to(torch.float16)
    if bad != "ok":
        frames.view(-1)[where] = float(bad)
    data = state(frames)
    if bad == "ok":
        assert feed_in_pieces(data, cuts) == feed_in_pieces(data, [])
        return
    with pytest.raises(InvalidArgument) as whole:
        feed_in_pieces(data, [])
    with pytest.raises(InvalidArgument) as pieces:
        feed_in_pieces(data, cuts)
    assert whole.value.message == pieces.value.message
    at = tuple(int(i) for i in torch.unravel_index(torch.tensor(where), (3, 4, 3, 2)))
    assert str(at) in pieces.value.message


def test_streaming_validation_refuses_a_short_upload():
    data = state()
    check = StateValidator(SPACE, LIMITS, len(data))
    check.feed(data[:-3])
    with pytest.raises(InvalidArgument, match="truncated"):
        check.finish()
