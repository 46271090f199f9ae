"""JSON from untrusted callers, bounded before it is parsed.

``json.loads`` recurses once per nesting level; with the interpreter's recursion limit raised (py_ecc sets it
to 100,000 on import) a deeply nested text overflows the thread's C stack and kills the process, and even
at the default limit it surfaces as RecursionError, not as bad input. Large texts cost memory many times
their size once parsed, and Python refuses to turn more than 4,300 digits into an int (ValueError). So
every untrusted JSON goes through ``loads``: its size and nesting depth are checked first by a linear scan
(numpy, no recursion), and numbers outside float range, NaN and Infinity are refused while parsing. Each
refusal is an InvalidArgument naming the caller's field.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from multiverse.errors import InvalidArgument

MAX_DEPTH = 64  # nesting of arrays and objects; every format we accept needs fewer than 10
MAX_INT_DIGITS = 309  # 10**309 > the largest float: anything longer cannot be a finite number
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_BLOCK = 1 << 18  # scratch memory is a few tens of bytes per byte of a block
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def loads(text: str | bytes | bytearray | memoryview, *, field: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` as JSON, refusing (InvalidArgument naming ``field``) a text over ``max_bytes`` bytes,
    nested deeper than ``max_depth``, not UTF-8, malformed, or holding a number outside float range, NaN or
    Infinity, or an object that names a key twice (parsers disagree on which one wins: safetensors refuses such
    a header that Python would read as its last key). Returns the parsed value."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if len(raw) > max_bytes:
        raise InvalidArgument(field, f"{len(raw)} bytes of JSON", f"send at most {max_bytes} bytes")
    found = depth(raw, stop=max_depth)
    if found > max_depth:
        raise InvalidArgument(field, f"JSON nested {found} levels deep",
                              f"nest arrays and objects at most {max_depth} levels deep")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(field, f"byte {exc.start} is not UTF-8", "send JSON encoded as UTF-8") from None
    try:
        return json.loads(decoded, parse_int=_integer(field), parse_float=_float(field),
                          parse_constant=_constant(field), object_pairs_hook=_unique(field))
    except json.JSONDecodeError as exc:
        raise InvalidArgument(field, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                              "send well-formed JSON") from None
    except RecursionError:  # depth() already bounds nesting; never let it surface as INTERNAL all the same
        raise InvalidArgument(field, "JSON nested too deeply", f"nest at most {max_depth} levels deep") from None


def _unique(field: str):
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(items)
        if len(found) != len(items):
            seen: set[str] = set()
            twice = next(k for k, _ in items if k in seen or seen.add(k))
            raise InvalidArgument(field, f"the key {twice[:80]!r} twice in one object", "name each key once per object")
        return found

    return pairs


def depth(raw: bytes, *, stop: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``raw`` outside strings, by a linear scan without recursion
    (in 256 KiB blocks, so its scratch memory stays about 10 MB whatever the size); it returns early once
    past ``stop``.

    Exact for well-formed JSON; for malformed JSON it is exact up to the first error, which is as far as a
    parser gets (brackets after it are never parsed). A quote is escaped when an odd run of backslashes
    precedes it."""
    deepest, level, inside, run = 0, 0, False, 0
    for start in range(0, len(raw), _BLOCK):
        a = np.frombuffer(raw, dtype=np.uint8, count=min(_BLOCK, len(raw) - start), offset=start)
        quotes = np.flatnonzero(a == _QUOTE)
        is_bs = a == _BACKSLASH
        carried = run
        run = 0
        if is_bs.any():
            # the last position at or before each one that is not a backslash (a run carried in ends at -1)
            last_plain = np.maximum.accumulate(np.where(is_bs, np.int32(-1 - carried), np.arange(a.size, dtype=np.int32)))
            before = quotes - 1
            runs = np.where(before >= 0, before - last_plain[np.maximum(before, 0)], carried)
            quotes = quotes[runs % 2 == 0]
            run = int(a.size - 1 - last_plain[-1]) if is_bs[-1] else 0
        elif carried % 2 and quotes.size and quotes[0] == 0:
            quotes = quotes[1:]
        brackets = np.flatnonzero(_OPEN[a])
        # outside strings: after an even number of unescaped quotes (counting the state carried in)
        outside = (np.searchsorted(quotes, brackets) + int(inside)) % 2 == 0
        levels = np.cumsum(_OPEN[a[brackets[outside]]], dtype=np.int32)
        if levels.size:
            deepest = max(deepest, level + int(levels.max()))
            level += int(levels[-1])
        inside = (int(inside) + quotes.size) % 2 == 1
        if stop is not None and deepest > stop:
            break
    return max(deepest, 0)


def _integer(field: str):
    def parse(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise InvalidArgument(field, f"an integer of {len(digits.lstrip('-'))} digits",
                                  f"use numbers of at most {MAX_INT_DIGITS} digits (within float range)")
        value = int(digits)
        if abs(value) > sys.float_info.max:
            raise InvalidArgument(field, f"an integer of {len(digits.lstrip('-'))} digits",
                                  "use numbers within float range (about 1.8e308)")
        return value

    return parse


def _float(field: str):
    def parse(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise InvalidArgument(field, text[:40], "use numbers within float range (about 1.8e308)")
        return value

    return parse


def _constant(field: str):
    def parse(name: str) -> Any:
        raise InvalidArgument(field, name, "JSON has no NaN or Infinity: send finite numbers")

    return parse
