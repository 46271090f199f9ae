"""Latent spaces: names, dtypes and the validation of a space's description. Pure."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from multiverse.errors import InvalidArgument
from multiverse.records import SpaceRecord

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
NAME_FIX = "use 1-63 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"


@dataclass(frozen=True)
class DType:
    name: str  # our name (torch's)
    code: str  # safetensors' name
    itemsize: int
    floating: bool
    nonfinite_mask: int = 0  # exponent bits: all set means Inf or NaN (floating types only)


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("float16", "F16", 2, True, 0x7C00),
        DType("bfloat16", "BF16", 2, True, 0x7F80),
        DType("float32", "F32", 4, True, 0x7F800000),
        DType("uint8", "U8", 1, False),
        DType("int16", "I16", 2, False),
        DType("uint16", "U16", 2, False),
        DType("int32", "I32", 4, False),
        DType("int64", "I64", 8, False),
    )
}
BY_CODE = {d.code: d for d in DTYPES.values()}
FLOAT_DTYPES = tuple(n for n, d in DTYPES.items() if d.floating)
MAX_FRAME_VALUES = 1 << 26


def check_name(field: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidArgument(field, value, NAME_FIX)
    return value


def validate_space(space: SpaceRecord, *, max_players: int) -> SpaceRecord:
    """Return ``space`` if it describes a usable latent space, else raise InvalidArgument naming the field."""
    check_name("space.name", space.name)
    if space.dtype not in DTYPES:
        raise InvalidArgument("space.dtype", space.dtype, f"use one of {', '.join(DTYPES)}")
    shape = space.frame_shape
    if not shape or len(shape) > 6 or any(int(d) < 1 for d in shape):
        raise InvalidArgument(
            "space.frame_shape", list(shape), "give 1 to 6 positive sizes of one frame, e.g. 16,18,32"
        )
    if math.prod(shape) > MAX_FRAME_VALUES:
        raise InvalidArgument(
            "space.frame_shape", list(shape), f"one frame may hold at most {MAX_FRAME_VALUES} values"
        )
    if not 0 <= space.player_dim <= 65536:
        raise InvalidArgument("space.player_dim", space.player_dim, "use 0 to 65536 (0: no player vectors)")
    discrete = not DTYPES[space.dtype].floating
    if discrete and space.vocab_size < 1:
        raise InvalidArgument(
            "space.vocab_size", space.vocab_size, f"a discrete space ({space.dtype} token ids) needs vocab_size >= 1"
        )
    if discrete and space.vocab_size > _int_max(space.dtype) + 1:
        raise InvalidArgument(
            "space.vocab_size", space.vocab_size, f"{space.dtype} holds ids up to {_int_max(space.dtype)}"
        )
    if not discrete and space.vocab_size:
        raise InvalidArgument("space.vocab_size", space.vocab_size, "only discrete (integer) spaces have a vocabulary")
    if not 1 <= space.max_players <= max_players:
        raise InvalidArgument("space.max_players", space.max_players, f"use 1 to {max_players}")
    for label, text in (("space.model", space.model), ("space.version", space.version), ("space.decoder", space.decoder)):
        if len(text) > 128:
            raise InvalidArgument(label, text, "use at most 128 characters")
    _check_reference(space.reference)
    return space


def _check_reference(reference: dict) -> None:
    """The reference statistics that crosses read (multiverse.crossing.stats) must be finite numbers; other keys are
    kept as they are."""
    for key in ("norm_mean", "norm_std"):
        if key in reference and not _finite(reference[key]):
            raise InvalidArgument(f"space.reference_json.{key}", reference[key], "use a finite number")
    given = reference.get("channel_std", [])
    if not isinstance(given, list) or len(given) > 65536 or not all(_finite(v) and v >= 0 for v in given):
        raise InvalidArgument("space.reference_json.channel_std", given,
                              "use a list of non-negative finite numbers, one per channel (axis 1 of a frame batch)")


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (isinstance(value, int) and abs(value) < 2**1023) or (isinstance(value, float) and math.isfinite(value))


def _int_max(dtype: str) -> int:
    return {"uint8": 255, "int16": 32767, "uint16": 65535, "int32": 2**31 - 1, "int64": 2**63 - 1}[dtype]
