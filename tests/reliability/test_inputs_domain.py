"""Untrusted input (issue 12, items 0, 2, 3, 5, 6), the parts below the wire: the stored-state readers, the
header memory bound, the bounded error details, the CLI's options, multiverse.jsonsafe itself, a crossed child's
header. The gRPC-facing cases are in test_inputs.py, the crash cases against a subprocess in test_inputs_server.py.
"""

from __future__ import annotations

import base64
import json
import struct
import tracemalloc

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multiverse import errors
from multiverse.app import App
from multiverse.cli.main import _parser
from multiverse.config import Limits, Settings
from multiverse.state.format import decode_state, encode_state
from multiverse.store.auth import Principal
from multiverse.store.store import SaveRequest
from tests.reliability.test_inputs import SPACE, UUID, synth, with_header


def test_readers_call_a_stored_state_without_timeline_corrupt_not_keyerror():
    data = with_header(synth(1), lambda h: h["__metadata__"].pop("timeline"))
    with pytest.raises(errors.Corrupt) as info:
        decode_state(data)
    assert "state.__metadata__.timeline" in info.value.message


def test_status_details_stay_under_the_trailer_cap_whatever_the_error_echoes():
    from services.errors import to_status

    echo = "\U0001f4a5" * 10_000
    for exc in (errors.NotFound(f"latent space {echo!r} does not exist: register it first", space=echo, other=echo),
                errors.InvalidArgument(echo, echo, echo, reason=echo)):
        status = to_status(exc)
        trailers = dict(status.trailing_metadata)
        encoded = sum(3 if b > 0x7E or b < 0x20 or b == 0x25 else 1 for b in status.details.encode())  # percent-encoding
        assert encoded + len(base64.b64encode(trailers["grpc-status-details-bin"])) < 8 << 10
        assert status.details.endswith("register it first") or isinstance(exc, errors.InvalidArgument)


# item 3: memory bounds before parsing -----------------------------------------------------------------------
def test_a_huge_header_is_refused_from_its_length_within_a_small_multiple_of_the_cap(tmp_path):
    cap = 8 << 20  # the default (test_the_header_cap_is_configurable_from_the_environment)
    app = App.open(Settings(data_dir=tmp_path / "data"))
    try:
        admin = Principal("admin", "admin", "k")
        app.store.register_space(admin, SPACE)
        app.store.create_world(admin, "w1", "demo")
        metadata = {"format": "multiverse.state/1", "space": "demo", "players": "[]",
                    "timeline": json.dumps([{"frame": 0, "text": "x" * 4000}] * 12_000)}  # ~48 MB of metadata
        text = json.dumps({"__metadata__": metadata}).encode()
        data = struct.pack("<Q", len(text)) + text
        pieces = [memoryview(data)[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
        tracemalloc.start()
        try:
            with pytest.raises(errors.InvalidArgument) as info:
                app.store.save(admin, SaveRequest(world="w1", size=len(data)), iter(pieces))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2 * cap, f"peak {peak} bytes for a refused {len(text)}-byte header (cap {cap})"
        assert info.value.field == "state.header_length" and str(cap) in info.value.message
        assert app.meta.heads("w1") == {}
    finally:
        app.close()


def test_the_header_cap_is_configurable_from_the_environment():
    assert Settings.from_env({"MULTIVERSE_MARKET": "off", "MULTIVERSE_MAX_HEADER_BYTES": "12345"}).limits.max_header_bytes == 12345
    assert Limits().max_header_bytes == 8 << 20


def test_global_options_work_after_the_subcommand():
    args = _parser().parse_args(["up", "--data", "D", "--grpc", "127.0.0.1:1", "--no-demo"])
    assert (str(args.data), args.grpc, args.no_demo) == ("D", "127.0.0.1:1", True)
    args = _parser().parse_args(["--data", "X", "--key", "k", "log", "w1"])
    assert (str(args.data), args.key) == ("X", "k")
    args = _parser().parse_args(["space", "get", "demo", "--key", "k2", "--grpc", "h:1"])
    assert (args.key, args.grpc, args.data) == ("k2", "h:1", None)


def test_players_stats_of_1e309_or_true_are_refused():
    from multiverse.state.players import validate_players

    for health in (10**309, True, float("inf")):
        with pytest.raises(errors.InvalidArgument) as info:
            validate_players([{"uuid": UUID, "name": "a", "stats": {"Health": health}}], max_players=4, limits=Limits())
        assert info.value.field == "players[0].stats.Health"


def test_encode_state_round_trips_through_the_stricter_readers():
    data = encode_state(torch.zeros(2, 4, 3, 2, dtype=torch.float16), torch.zeros(0, 8), space="demo", players=[],
                        timeline=[{"frame": 1, "text": "hi"}])
    _, info = decode_state(data)
    assert info.timeline == [{"frame": 1, "text": "hi"}] and info.players == []


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


_TRICKY = st.text(alphabet='[]{}"\\ ax\u00e9', max_size=6)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TRICKY,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(value=_JSON, block=st.sampled_from([1, 2, 3, 7, 1 << 18]), ascii_only=st.booleans())
def test_jsonsafe_depth_is_exact_and_loads_agrees_with_json(value, block, ascii_only):
    """The scan sees strings (escaped quotes, backslash runs, brackets inside) as the parser does, across blocks."""
    from multiverse import jsonsafe

    text = json.dumps(value, ensure_ascii=ascii_only)
    original, jsonsafe._BLOCK = jsonsafe._BLOCK, block
    try:
        assert jsonsafe.depth(text.encode()) == _depth(value)
        assert jsonsafe.loads(text, field="f", max_bytes=1 << 20) == json.loads(text)
    finally:
        jsonsafe._BLOCK = original


@pytest.mark.parametrize(
    ("text", "words"),
    [("[" * 65 + "]" * 65, "65 levels"), ('{"a": ' * 100, "levels"), ("1" * 400, "400 digits"), ("-1e400", "float range"),
     ("Infinity", "NaN or Infinity"), ('{"a": 1', "invalid JSON"), (b"\xff[]", "UTF-8"), ("x" * 2000, "bytes")],
)
def test_jsonsafe_refusals_name_the_field(text, words):
    from multiverse import jsonsafe

    with pytest.raises(errors.InvalidArgument) as info:
        jsonsafe.loads(text, field="params_json", max_bytes=1000)
    assert info.value.field == "params_json" and words in info.value.message, info.value.message


def test_a_cross_whose_header_would_pass_the_cap_is_refused(tmp_path):
    """A crossed child obeys the header cap a save of it would meet (two parents' texts together pass it)."""
    from multiverse.crossing import CrossSpec

    app = App.open(Settings(data_dir=tmp_path / "data", limits=Limits(max_header_bytes=3000)))
    try:
        admin = Principal("admin", "admin", "k")
        app.store.register_space(admin, SPACE)
        for name, word in (("a", "rain"), ("b", "snow")):
            app.store.create_world(admin, name, "demo")
            texts = [{"frame": i, "text": f"{word} {i} " + "x" * 200} for i in range(6)]
            data = encode_state(torch.zeros(6, 4, 3, 2, dtype=torch.float16), torch.zeros(0, 8), space="demo",
                                players=[], timeline=texts)
            app.store.save(admin, SaveRequest(world=name, size=len(data)), iter([data]))
        with pytest.raises(errors.FailedPrecondition) as info:
            app.crossing.cross(admin, CrossSpec(parents=("a", "b"), pipeline={"steps": [{"op": "linear", "params": {}}]},
                                                name="c"))
        assert info.value.details["field"] == "state.header_length"
        assert [w.name for w in app.meta.list_worlds(space="demo", owner=None, after="", limit=10)] == ["a", "b"]
    finally:
        app.close()
