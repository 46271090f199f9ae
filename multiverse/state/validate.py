"""Validation of an untrusted state file against its latent space, fed in pieces as it streams in.

The server validates while the upload arrives, so a 1 GiB state is never read twice and bad input is
refused as early as its first bad byte. Every rejection is an InvalidArgument naming the field, the value
and the fix. Checks: safetensors framing (header length, JSON, offsets contiguous and covering the data),
exactly the tensors ``frames`` and ``players`` with the space's dtype and shape, the metadata (format, space,
players' JSON schema, guidance texts), no NaN/Inf in float data, token ids inside the vocabulary.

A chunked save (multiverse/store/chunked.py) validates the same things piece by piece: ``check_header`` on the
state's prefix and JSON header, then ``check_values`` on each tensor chunk it was sent, at the chunk's place in
the tensor. ``checked_as`` names what a chunk's values passed (stored with the chunk), so a stored chunk is
trusted only for a check it passed (``covers``): a frame chunk saved for one float16 space serves every float16
space, a token chunk checked against a vocabulary of 1,000 ids serves any vocabulary at least as large.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multiverse.errors import InvalidArgument
from multiverse.records import SpaceRecord
from multiverse.state.format import HEADER_FIX as FIX
from multiverse.state.format import Header, StateInfo, Tensor, parse_header, parse_length, parse_metadata
from multiverse.state.limits import Limits
from multiverse.state.players import validate_players, validate_timeline
from multiverse.state.spaces import FLOAT_DTYPES



def inspect_state(path: Path, space: SpaceRecord, limits: Limits) -> StateInfo:
    """Validate the state file at ``path`` (read in 8 MiB pieces)."""
    check = StateValidator(space, limits, path.stat().st_size)
    with open(path, "rb") as f:
        while piece := f.read(8 << 20):
            check.feed(piece)
    return check.finish()


class _Scanner:
    """Scans one tensor's bytes in order: floats must be finite, token ids inside [0, vocab)."""

    def __init__(self, t: Tensor, vocab: int) -> None:
        self.t, self.vocab, self.done, self.carry = t, vocab, 0, b""
        d = t.dtype
        self.bits = np.dtype(f"<u{d.itemsize}") if d.floating else np.dtype(d.name).newbyteorder("<")

    def feed(self, piece: memoryview) -> None:
        size = self.t.dtype.itemsize
        if self.carry:
            take = min(size - len(self.carry), len(piece))
            self.carry += bytes(piece[:take])
            piece = piece[take:]
            if len(self.carry) == size:
                self._check(np.frombuffer(self.carry, dtype=self.bits))
                self.carry = b""
        whole = len(piece) - len(piece) % size
        if whole:
            self._check(np.frombuffer(piece[:whole], dtype=self.bits))
        if whole < len(piece):
            self.carry = bytes(piece[whole:])

    def _check(self, a: np.ndarray) -> None:
        d, name = self.t.dtype, f"state.{self.t.name}"
        if d.floating:
            bad = np.flatnonzero((a & d.nonfinite_mask) == d.nonfinite_mask)
            if bad.size:
                at = np.unravel_index(self.done + int(bad[0]), self.t.shape)
                raise InvalidArgument(name, f"NaN or Inf at index {tuple(int(i) for i in at)}",
                                      "send finite values only (check the model's output for overflow)")
        elif a.size and (int(a.min()) < 0 or int(a.max()) >= self.vocab):
            raise InvalidArgument(name, f"token ids from {int(a.min())} to {int(a.max())}",
                                  f"the latent space has token ids 0..{self.vocab - 1}")
        self.done += a.size


class StateValidator:
    """Feed the file's bytes in order with ``feed``; ``finish`` returns the StateInfo or raises."""

    def __init__(self, space: SpaceRecord, limits: Limits, size: int) -> None:
        if size < 8:
            raise InvalidArgument("state", f"{size} bytes", FIX, reason="the state file is too short to be safetensors")
        self.space, self.limits, self.size = space, limits, size
        self._buf, self._need = bytearray(), 8
        self._header_len = -1
        self._info: StateInfo | None = None
        self._scanners: list[_Scanner] = []
        self._data_pos = 0
        self.header: Header | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view.nbytes:
            if self._info is None:
                take = min(view.nbytes, self._need - len(self._buf))
                self._buf += view[:take]
                view = view[take:]
                self._advance()
            else:
                view = self._scan(view)

    def finish(self) -> StateInfo:
        data_len = self.size - 8 - max(self._header_len, 0)
        if self._info is None or self._data_pos != data_len or any(s.carry for s in self._scanners):
            raise InvalidArgument("state", f"{self._data_pos} of {data_len} data bytes", "send the whole file",
                                  reason="the state file is truncated")
        return self._info

    def _advance(self) -> None:
        while self._info is None and len(self._buf) == self._need:
            if self._header_len < 0:
                # refused from the 8-byte length alone, before any of the header is buffered or parsed
                n = parse_length(self._buf, size=self.size, max_bytes=self.limits.max_header_bytes)
                self._header_len, self._buf, self._need = n, bytearray(), n
            else:
                self._parse_header(bytes(self._buf))
                self._buf = bytearray()

    def _parse_header(self, raw: bytes) -> None:
        header = parse_header(raw, size=self.size, max_bytes=self.limits.max_header_bytes)
        self.header = header
        frames, players = _check_tensors(header, self.space, self.limits)
        self._info = _check_metadata(header.metadata, self.space, frames.shape[0], players.shape[0], self.limits)
        self._scanners = [_Scanner(t, self.space.vocab_size) for t in header.tensors]

    def _scan(self, view: memoryview) -> memoryview:
        for s in self._scanners:
            if s.t.begin <= self._data_pos < s.t.end:
                take = min(view.nbytes, s.t.end - self._data_pos)
                s.feed(view[:take])
                self._data_pos += take
                return view[take:]
        raise InvalidArgument("state", f"more than {self.size} bytes", "the upload is longer than its header says")


def _check_tensors(header: Header, space: SpaceRecord, limits: Limits) -> tuple[Tensor, Tensor]:
    frames, players = header.tensor("frames"), header.tensor("players")
    if frames.dtype.name != space.dtype:
        raise InvalidArgument("state.frames.dtype", frames.dtype.name,
                              f"latent space {space.name} stores {space.dtype}: convert the frames to {space.dtype}")
    expected = tuple(space.frame_shape)
    if len(frames.shape) != len(expected) + 1 or frames.shape[1:] != expected:
        want = ", ".join(str(d) for d in expected)
        raise InvalidArgument("state.frames.shape", frames.shape,
                              f"latent space {space.name} expects (T, {want})", reason=f"frames has shape {frames.shape}")
    if not 1 <= frames.shape[0] <= limits.max_frames:
        raise InvalidArgument("state.frames.shape[0]", frames.shape[0], f"send 1 to {limits.max_frames} frames")
    if players.dtype.name not in FLOAT_DTYPES:
        raise InvalidArgument("state.players.dtype", players.dtype.name, f"player vectors are floats: use one of {', '.join(FLOAT_DTYPES)}")
    if len(players.shape) != 2 or players.shape[1] != space.player_dim:
        raise InvalidArgument("state.players.shape", players.shape,
                              f"latent space {space.name} expects (P, {space.player_dim}): one row per player")
    return frames, players


def _check_metadata(meta: Any, space: SpaceRecord, frame_count: int, player_count: int, limits: Limits) -> StateInfo:
    name, players, timeline = parse_metadata(meta, max_bytes=limits.max_header_bytes)
    if name != space.name:
        raise InvalidArgument("state.__metadata__.space", name,
                              f"this world lives in latent space {space.name}: save states of that space")
    players = validate_players(players, max_players=min(space.max_players, limits.max_players), limits=limits)
    if len(players) != player_count:
        raise InvalidArgument("state.players.shape[0]", player_count,
                              f"there are {len(players)} players in the metadata: send one vector row per player")
    timeline = validate_timeline(timeline, frame_count=frame_count, limits=limits)
    return StateInfo(space.name, frame_count, player_count, players, timeline)


def check_header(head: bytes | memoryview, size: int, space: SpaceRecord, limits: Limits) -> tuple[Header, StateInfo]:
    """Validate a ``size``-byte state file's prefix and JSON header ``head`` (exactly those bytes) against
    ``space``, as a whole-file save does before the data: tensors, dtypes, shapes, metadata, players, timeline."""
    check = StateValidator(space, limits, size)
    check.feed(head[:8])
    if check._header_len != len(head) - 8:
        raise InvalidArgument("state.header_length", check._header_len,
                              f"the header chunks hold {len(head) - 8} JSON bytes: cut the state as docs/chunks.md says")
    check.feed(head[8:])
    if check._info is None or check.header is None:
        raise InvalidArgument("state", f"{len(head)} header bytes", FIX, reason="the header is incomplete")
    return check.header, check._info


def checked_as(t: Tensor, vocab: int) -> str:
    """What a chunk of tensor ``t``'s values is checked as: its dtype name (floats: finite), and for token ids
    the vocabulary they lie in (``int32/1000``). At most 16 characters (the chunks table's column)."""
    return t.dtype.name if t.dtype.floating else f"{t.dtype.name}/{vocab}"


def covers(done: str, need: str) -> bool:
    """Whether a chunk checked as ``done`` passes the check ``need`` (see ``checked_as``; "" is raw bytes: a
    header chunk, which needs no check of values)."""
    if need == "" or done == need:
        return True
    name, _, vocab = done.partition("/")
    want, _, limit = need.partition("/")
    return bool(vocab and limit) and name == want and int(vocab) <= int(limit)


def check_values(t: Tensor, vocab: int, piece: bytes | memoryview, begin: int) -> None:
    """Validate ``piece``, tensor ``t``'s data bytes from byte ``begin`` of the tensor (a whole number of values):
    finite floats, token ids inside [0, vocab). InvalidArgument names the first bad value's index."""
    size = t.dtype.itemsize
    if begin % size or len(piece) % size:
        raise InvalidArgument(f"state.{t.name}", f"bytes {begin}..{begin + len(piece)}",
                              f"cut {t.name} at whole values ({size} bytes each): see docs/chunks.md")
    scanner = _Scanner(t, vocab)
    scanner.done = begin // size
    scanner.feed(memoryview(piece))
