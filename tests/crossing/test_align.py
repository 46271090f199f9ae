"""Parents of different frame counts under each alignment policy, with guidance texts remapped."""

from __future__ import annotations

import pytest
import torch

import merge_kernels as mk
from multiverse import errors
from tests.crossing.lab import frames, state

SHORT = [(0, "dawn"), (5, "short ends")]                      # 6 frames
LONG = [(2, "early"), (4, "middle"), (9, "long ends")]        # 10 frames


@pytest.fixture
def pair(lab):
    for w in ("s", "l"):
        lab.world(w)
    s = lab.save("s", state(frames(1, 6), texts=SHORT))
    l = lab.save("l", state(frames(2, 10), texts=LONG))
    return lab, s, l


def texts(lab, snap):
    timeline = lab.load(snap)[1].timeline
    assert timeline[0]["frame"] == 0 and timeline[0]["text"].startswith("[cross] 2 states crossed with linear")
    return [(t["frame"], t["text"]) for t in timeline[1:]]


@pytest.mark.parametrize("policy, length, want", [
    ("last_n", 6, [(0, "dawn"), (0, "middle"), (5, "long ends"), (5, "short ends")]),
    ("truncate", 6, [(0, "dawn"), (2, "early"), (4, "middle"), (5, "short ends")]),
    ("resample", 10, [(0, "dawn"), (2, "early"), (4, "middle"), (9, "short ends"), (9, "long ends")]),
])
def test_each_policy_aligns_frames_and_remaps_texts(pair, policy, length, want):
    lab, s, l = pair
    snap = lab.cross(["s", "l"], "linear", align=policy, name=f"x-{policy.replace('_', '-')}").snapshot
    assert snap.frame_count == length
    xs, xl = lab.load(s)[0]["frames"], lab.load(l)[0]["frames"]
    aligned = mk.align([xs, xl], policy)
    assert [t.shape[0] for t in aligned] == [length, length]
    assert torch.equal(lab.load(snap)[0]["frames"], mk.apply("linear", aligned))
    assert sorted(texts(lab, snap)) == sorted(want)
    assert [f for f, _ in texts(lab, snap)] == sorted(f for f, _ in want)  # in frame order


def test_resample_to_a_chosen_length_moves_texts_proportionally(pair):
    lab, _, _ = pair
    snap = lab.cross(["s", "l"], "linear", align="resample", frames=4, name="four").snapshot
    assert snap.frame_count == 4
    # short: 0 -> 0, 5 -> 3; long: 2 -> round(2/3) = 1, 4 -> round(4/3) = 1, 9 -> 3
    assert sorted(texts(lab, snap)) == sorted([(0, "dawn"), (3, "short ends"), (1, "early"), (1, "middle"), (3, "long ends")])


def test_truncate_to_fewer_frames_drops_later_texts(pair):
    lab, _, _ = pair
    snap = lab.cross(["s", "l"], "linear", align="truncate", frames=3, name="three").snapshot
    assert snap.frame_count == 3 and sorted(texts(lab, snap)) == [(0, "dawn"), (2, "early")]


def test_alignment_mistakes_are_named(pair):
    lab, _, _ = pair
    lab.world("s2")  # a second 6-frame parent: frames without align is refused even where lengths agree
    lab.save("s2", state(frames(3, 6)))
    before = lab.footprint()
    cases = [
        ({}, "align", "[6, 10] frames"),
        ({"align": "sideways"}, "align", "last_n"),
        ({"align": "truncate", "frames": 7}, "frames", "at most 6"),
        ({"align": "resample", "frames": 10_000}, "frames", "4096"),
    ]
    for kw, field, words in cases:
        with pytest.raises(errors.InvalidArgument) as e:
            lab.cross(["s", "l"], "linear", **kw)
        assert e.value.field == field and words in e.value.message, (kw, e.value.message)
    with pytest.raises(errors.InvalidArgument) as e:
        lab.cross(["s", "s2"], "linear", frames=3)
    assert e.value.field == "frames" and "align" in e.value.message
    assert lab.footprint() == before
