"""docs/state-format.md cannot rot silently: its example file validates against the space it declares, the
script beside it reproduces it byte for byte (and so does our own writer), and the tensor names, dtype codes,
metadata keys and limits it lists are the code's."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
import torch

from multiverse import jsonsafe
from multiverse.errors import InvalidArgument
from multiverse.records import SpaceRecord
from multiverse.state.format import MAX_RANK, METADATA_KEYS, STATE_FORMAT, TENSOR_NAMES, decode_state, encode_state
from multiverse.state.limits import Limits
from multiverse.state.spaces import BY_CODE, DTYPES, FLOAT_DTYPES, validate_space
from multiverse.state.validate import inspect_state

DOCS = Path(__file__).resolve().parents[2] / "docs"
SPEC = (DOCS / "state-format.md").read_text()
EXAMPLE = DOCS / "examples" / "state-example.safetensors"
# Limits fields that are not about the state file (one streamed chunk; labels of a request)
NOT_STATE = {"max_chunk_bytes", "max_labels"}


def make_example():
    spec = importlib.util.spec_from_file_location("make_example", DOCS / "examples" / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("make_example", None)
    spec.loader.exec_module(module)
    return module


def table(marker: str) -> list[list[str]]:
    """The rows (cells stripped of backticks) of the markdown table between ``<!-- spec:marker -->`` tags."""
    body = re.search(rf"<!-- spec:{marker} -->\n(.*?)<!-- /spec:{marker} -->", SPEC, re.S)
    assert body, f"docs/state-format.md has no spec:{marker} table"
    rows = [[c.strip().strip("`") for c in line.strip().strip("|").split("|")] for line in body.group(1).splitlines()]
    return [r for r in rows[2:] if r and r[0]]  # past the heading and the rule


def declared_space() -> SpaceRecord:
    raw = re.search(r"<!-- spec:space (\{.*?\}) -->", SPEC).group(1)
    d = json.loads(raw)
    return validate_space(SpaceRecord(d["name"], tuple(d["frame_shape"]), d["dtype"], d["player_dim"]),
                          max_players=Limits().max_players)


def test_the_example_validates_against_the_space_the_spec_declares(tmp_path):
    info = inspect_state(EXAMPLE, declared_space(), Limits())
    assert (info.space, info.frame_count, info.player_count) == ("example", 2, 1)
    assert info.players[0]["wallet"] == "0x00000000000000000000000000000000000000a1"
    assert [e["frame"] for e in info.timeline] == [0, 1]


def test_the_example_holds_the_values_the_spec_gives():
    tensors, _ = decode_state(EXAMPLE.read_bytes())
    assert tensors["frames"].dtype == torch.float16 and tensors["frames"].shape == (2, 2, 3)
    assert tensors["frames"].flatten().tolist() == [0, 0.5, 1, -1, 2, -0.25, 1.5, 0, -2, 0.125, 3, -0.5]
    assert tensors["players"].dtype == torch.float32 and tensors["players"].tolist() == [[0.25, -1, 0.5, 2]]


def test_make_example_reproduces_the_committed_file_byte_for_byte(tmp_path):
    module = make_example()
    assert module.build() == EXAMPLE.read_bytes()
    assert module.hexdump(EXAMPLE.read_bytes()) in SPEC  # the doc's hex dump is this file's


def test_our_writer_gives_the_example_bytes_the_canonical_form_says():
    data = EXAMPLE.read_bytes()
    tensors, info = decode_state(data)
    again = encode_state(tensors["frames"], tensors["players"], space=info.space, players=info.players,
                         timeline=info.timeline)
    assert again == data


def test_a_broken_example_is_refused(tmp_path):
    """The validation the example passes is not vacuous: its space's other dtype, or one flipped byte of the
    header's padding into JSON, is refused."""
    space = declared_space()
    with pytest.raises(InvalidArgument) as info:
        inspect_state(EXAMPLE, dataclasses.replace(space, dtype="bfloat16"), Limits())
    assert info.value.field == "state.frames.dtype"
    bad = tmp_path / "bad.safetensors"
    data = bytearray(EXAMPLE.read_bytes())
    data[8] = ord("[")
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidArgument) as info:
        inspect_state(bad, space, Limits())
    assert info.value.field == "state.header"


def test_the_tensor_names_are_the_codes():
    assert [row[0] for row in table("tensors")] == list(TENSOR_NAMES)
    assert "a float dtype (" + ", ".join(DTYPES[n].code for n in FLOAT_DTYPES) + ")" in SPEC
    assert f"a shape of at most {MAX_RANK}" in SPEC


def test_the_dtype_codes_are_the_codes():
    assert {row[0]: int(row[1]) for row in table("dtypes")} == {c: d.itemsize for c, d in BY_CODE.items()}
    for row in table("dtypes"):
        assert f"({BY_CODE[row[0]].name})" in row[2]


def test_the_metadata_keys_are_the_codes():
    assert [row[0] for row in table("metadata")] == list(METADATA_KEYS)
    assert f"exactly `{STATE_FORMAT}`" in SPEC


def test_the_limits_are_the_codes():
    listed = {row[0]: int(row[1]) for row in table("limits")}
    defaults = {f.name: f.default for f in dataclasses.fields(Limits) if f.name not in NOT_STATE}
    assert listed == defaults
    assert f"nested more than {jsonsafe.MAX_DEPTH} levels" in SPEC
    options = (Path(__file__).resolve().parents[2] / "multiverse" / "options.py").read_text()
    for variable in re.findall(r"`(MULTIVERSE_[A-Z_]+)`", SPEC):
        assert variable in options, f"the spec names a setting {variable} that multiverse/options.py does not"


def test_the_example_state_hash_is_pinned():
    """A change to the canonical form (and so to every snapshot id) shows here first."""
    assert hashlib.sha256(EXAMPLE.read_bytes()).hexdigest() == "03d0fef9da46570381b0bfa1c3f71193085305b2b43019e5dac1b586b5da3991"
