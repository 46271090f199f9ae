"""multiverse/kept.py: the values put last, by key, at most ``size`` of them."""

from __future__ import annotations

from multiverse.kept import Kept


def test_the_values_put_last_are_kept_and_the_oldest_put_goes():
    kept: Kept[str, str] = Kept(2)
    kept.put_all([("a", "1"), ("b", "")])
    assert kept.of(["a", "b", "c"]) == {"a": "1", "b": ""}  # a falsy value is still kept
    assert kept.put("a", "2") == "2"  # put again: now the newest
    kept.put("c", "3")
    assert kept.of("abc") == {"a": "2", "c": "3"} and kept.get("b") is None
