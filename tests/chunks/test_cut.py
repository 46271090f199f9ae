"""The cut and the manifest (multiverse/chunks/cut.py): a function of the bytes, every length bound, the encoding's
round trip, hostile manifests refused."""

from __future__ import annotations

import hashlib
import struct

import blake3
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multiverse.chunks import cut as C
from multiverse.errors import Corrupt, InvalidArgument
from multiverse.records import SpaceRecord
from multiverse.state.format import encode_state, stored_header
from multiverse.state.synth import synth_state

OASIS = SpaceRecord("oasis", (16, 18, 32), "float16", 8)
SMALL = SpaceRecord("small", (4, 3, 2), "float16", 8)  # 48-byte frames: grouped to 4 KiB


def state(frames: torch.Tensor, players: int = 2, texts: int = 1, space: str = "oasis") -> bytes:
    vectors = torch.zeros((players, 8), dtype=torch.float32)
    people = [{"uuid": f"00000000-0000-4000-8000-{i:012d}", "name": f"p{i}", "stats": {}} for i in range(players)]
    timeline = [{"frame": 0, "text": f"text {i} " + "x" * 200} for i in range(texts)]
    return encode_state(frames, vectors, space=space, players=people, timeline=timeline)


def test_oasis_frames_are_one_chunk_each_and_a_sliding_window_shares_them():
    window = torch.randn((40, 16, 18, 32)).to(torch.float16)
    a, b = state(window[:32]), state(window[8:40])
    ma, pa = C.cut(a)
    mb, _ = C.cut(b)
    header = stored_header(a)
    assert ma.lengths[0] == header.data_start  # the header: one chunk
    assert ma.lengths[1:33] == (16 * 18 * 32 * 2,) * 32  # one frame per chunk
    assert b"".join(pa) == a and sum(ma.lengths) == ma.size == len(a)
    assert all(blake3.blake3(p).hexdigest() == x for p, x in zip(pa, ma.addresses))
    shared = set(ma.addresses) & set(mb.addresses)
    assert set(ma.addresses[9:33]) <= shared  # frames 8..31 of the window, unchanged
    assert ma.state_id == hashlib.sha256(ma.encode()).hexdigest()


def test_small_frames_are_grouped_and_players_cut_at_rows():
    data = synth_state(SMALL, frames=300, players=3, seed=1)
    m, _ = C.cut(data)
    h = stored_header(data)
    per = C.frames_per_chunk(48)
    assert per * 48 >= C.FRAME_CHUNK_MIN > (per - 1) * 48
    frames = [n for n in m.lengths[1:] if n % 48 == 0][: -(-300 // per)]
    assert sum(m.lengths[1:]) == h.tensor("frames").end - h.tensor("frames").begin + 3 * 8 * 4
    assert frames[0] == per * 48


def test_a_long_header_is_cut_by_content_and_a_frame_over_1_mib_in_pieces():
    long = state(torch.zeros((2, 16, 18, 32), dtype=torch.float16), texts=2000)
    m, _ = C.cut(long)
    n_head = len(C.header_lengths(memoryview(long)[: stored_header(long).data_start]))
    assert n_head > 1 and all(C.CDC_MIN <= n <= C.CDC_MAX for n in m.lengths[: n_head - 1])
    big = SpaceRecord("big", (1, 1024, 1024), "float16", 8)  # 2 MiB frames
    data = state(torch.zeros((2, 1, 1024, 1024), dtype=torch.float16), space="big")
    m, _ = C.cut(data)
    assert m.lengths[1:5] == (C.PIECE_MAX,) * 4 and max(m.lengths) <= C.PIECE_MAX
    assert big.frame_shape == (1, 1024, 1024)


@settings(max_examples=40, deadline=None)
@given(frames=st.integers(1, 40), players=st.integers(0, 4), texts=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_the_cut_is_a_function_of_the_bytes_and_bounded(frames, players, texts, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((frames, 4, 3, 2), generator=g).to(torch.float16)
    data = state(x, players=players, texts=texts, space="small")
    m1, p1 = C.cut(data)
    m2, _ = C.cut(bytes(data))  # another buffer, the same bytes
    assert m1 == m2 and m1.state_id == m2.state_id
    assert b"".join(p1) == data
    assert all(0 < n <= C.PIECE_MAX for n in m1.lengths)
    assert C.Manifest.decode(m1.encode()) == m1
    h = stored_header(data)
    C.check_lengths(m1, memoryview(data)[: h.data_start], h)  # the server's check agrees


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, C.PIECE_MAX), min_size=1, max_size=20), salt=st.binary(max_size=8),
       zeros=st.integers(0, 32))
def test_encode_decode_round_trip(lengths, salt, zeros):
    addresses = tuple(blake3.blake3(salt + bytes([i])).hexdigest() for i in range(len(lengths)))
    addresses = (addresses[0][: 64 - 2 * zeros] + "00" * zeros, *addresses[1:])  # digests may end in zero bytes
    m = C.Manifest(sum(lengths), addresses, tuple(lengths))
    raw = m.encode()
    spec = C.MAGIC + struct.pack("<QI", m.size, len(lengths)) + b"".join(
        bytes.fromhex(a) + struct.pack("<I", n) for a, n in zip(addresses, lengths))  # docs/chunks.md, entry by entry
    assert raw == spec
    assert C.Manifest.decode(raw) == m
    wire = C.Manifest.from_wire((m.size, b"".join(bytes.fromhex(a) for a in addresses), lengths), size=None)
    assert wire == m and wire.state_id == hashlib.sha256(raw).hexdigest()


def _wire(size, count=1, lengths=None, extra=b""):
    return (size, b"\x11" * 32 * count + extra, lengths if lengths is not None else [size] * count)


@pytest.mark.parametrize("packed, field", [
    (_wire(10, extra=b"\x00"), "manifest.addresses"),  # not whole digests
    (_wire(10, lengths=[]), "manifest.lengths"),  # a length per address
    (_wire(0, count=0, lengths=[]), "manifest.addresses"),  # no chunks
    (_wire(10, lengths=[0]), "manifest.lengths"),  # an empty chunk
    (_wire(C.PIECE_MAX + 1), "manifest.lengths"),  # a chunk over 1 MiB
    ((99, b"\x11" * 32, [10]), "manifest.size"),  # lengths do not sum to the size
])
def test_hostile_wire_manifests_are_refused(packed, field):
    with pytest.raises(InvalidArgument) as e:
        C.Manifest.from_wire(packed, size=None)
    assert e.value.field == field


def test_hostile_stored_manifests_are_corrupt_and_counts_are_bounded():
    good = C.Manifest(5, ("ab" * 32,), (5,)).encode()
    for bad in (good[:-1], good + b"\0", b"x" + good[1:], C.MAGIC + struct.pack("<QI", 5, C.MAX_CHUNKS + 1)):
        with pytest.raises(Corrupt):
            C.Manifest.decode(bad)
    assert C.is_manifest(good) and not C.is_manifest(struct.pack("<Q", 100) + b"{}")


def test_check_lengths_names_the_first_wrong_chunk():
    data = state(torch.zeros((3, 16, 18, 32), dtype=torch.float16))
    m, _ = C.cut(data)
    h = stored_header(data)
    lengths = list(m.lengths)
    lengths[2], lengths[3] = lengths[2] - 2, lengths[3] + 2  # the same size, cut elsewhere
    other = C.Manifest(m.size, m.addresses, tuple(lengths))
    with pytest.raises(InvalidArgument) as e:
        C.check_lengths(other, memoryview(data)[: h.data_start], h)
    assert e.value.field == "manifest.lengths[2]"


def _same_cut(data: bytes, before: tuple[bytes, C.Manifest] | None) -> C.Manifest:
    m, pieces = C.recut(data, before)
    expected, expected_pieces = C.cut(data)
    assert m == expected and [bytes(p) for p in pieces] == [bytes(p) for p in expected_pieces]
    return m


def test_a_recut_against_the_last_state_is_the_cut_and_hashes_only_what_changed(monkeypatch):
    window = torch.randn((48, 16, 18, 32)).to(torch.float16)
    a, b = state(window[:32]), state(window[8:40], texts=2)  # slid by 8 frames, the header changed
    ma = _same_cut(a, None)
    hashed: list[int] = []
    real = C.address
    monkeypatch.setattr(C, "address", lambda p: hashed.append(len(p)) or real(p))
    mb, _ = C.recut(b, (a, ma))
    frame = 16 * 18 * 32 * 2
    # the header, the first kept frame (which finds the run), the 8 new frames and the players: the other 23 compared
    assert hashed.count(frame) == 1 + 8 and len(hashed) == 1 + 1 + 8 + 1
    hashed.clear()
    assert C.recut(b, (b, mb))[0] == mb and len(hashed) == 1  # the same state again: its header anchors one run
    monkeypatch.undo()
    assert mb == C.cut(b)[0]


def test_a_recut_never_takes_an_address_for_bytes_that_differ():
    window = torch.randn((40, 16, 18, 32)).to(torch.float16)
    a = state(window[:32])
    ma = C.cut(a)[0]
    start = stored_header(a).data_start
    for at in (start, start + 5 * 18432 + 7, len(a) - 8 * 18432 - 1, start + 31 * 18432 + 18431):
        changed = bytearray(a)
        changed[at] ^= 0x40  # one bit of one frame (first, middle, last byte of a frame, in the compared run)
        _same_cut(bytes(changed), (a, ma))
    _same_cut(state(window[:32].flip(0)), (a, ma))  # the same frames in reverse: no run holds, each found alone
    _same_cut(state(window[8:40], space="small"), (a, ma))  # another space's header: everything moved
    small = synth_state(SMALL, frames=300, players=3, seed=1)
    _same_cut(small, (a, ma))  # another frame size: no length matches
    _same_cut(synth_state(SMALL, frames=301, players=3, seed=1), (small, C.cut(small)[0]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=1, max_size=12), st.lists(st.integers(0, 11), min_size=1, max_size=12),
       st.integers(1, 7))
def test_a_recut_is_the_cut_for_any_two_states_of_shared_frames(old, new, odd):
    pool = torch.randn((12, 4, 3, 2)).to(torch.float16)  # small frames, grouped several to a chunk
    pool[odd % 12, 0, 0, 0] = float(odd)
    a, b = state(pool[old], space="small"), state(pool[new], space="small", texts=odd)
    _same_cut(b, (a, C.cut(a)[0]))


def test_the_client_cuts_against_the_last_state_of_each_world_and_keeps_only_immutable_bytes():
    from multiverse.client.chunked import WORLDS_CUT, Cuts

    window = torch.randn((40, 16, 18, 32)).to(torch.float16)
    cuts = Cuts()
    buffer = bytearray(state(window[:32]))
    assert cuts.cut("w", buffer)[0] == C.cut(bytes(buffer))[0]
    buffer[-100] ^= 1  # a buffer the caller changed after its save: nothing of it was kept to cut against
    assert cuts.cut("w", buffer)[0] == C.cut(bytes(buffer))[0]
    for n in range(WORLDS_CUT + 1):  # the worlds saved last are kept, the oldest goes
        cuts.cut(f"w{n}", state(window[n : n + 32]))
    assert sorted(cuts._last) == [f"w{n}" for n in range(1, WORLDS_CUT + 1)]
    slid = state(window[8:40])
    assert cuts.cut("w4", slid)[0] == C.cut(slid)[0]


def test_the_client_keeps_at_most_cut_bytes_of_states_to_cut_against(monkeypatch):
    from multiverse.client import chunked

    monkeypatch.setattr(chunked, "CUT_BYTES", 100 << 10)  # a 32-frame state is 590 KB: the last one alone stays
    cuts = chunked.Cuts()
    window = torch.randn((40, 16, 18, 32)).to(torch.float16)
    for n in range(3):
        cuts.cut(f"w{n}", state(window[n : n + 32]))
    assert list(cuts._last) == ["w2"]
