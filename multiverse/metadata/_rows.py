"""Records <-> rows, the checks a record gets before it is stored, and the log's opaque cursor. No I/O."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from multiverse import jsonsafe
from multiverse.errors import InvalidArgument
from multiverse.records import SnapshotRecord, SpaceRecord, WorldRecord, canonical_json

MAX_LIMIT = 10_000
HEX = re.compile(r"[0-9a-f]+")


# records <-> rows


def fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def to_json(field: str, value: Any) -> str:
    try:
        return canonical_json(value).decode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            field, value, f"use JSON values only (finite numbers, strings, lists, dicts): {exc}"
        ) from exc


def space_row(space: SpaceRecord) -> dict[str, Any]:
    row = fields(space)
    row["frame_shape"] = to_json("space.frame_shape", list(space.frame_shape))
    row["reference"] = to_json("space.reference", space.reference)
    return row


def space_record(row: Mapping[str, Any]) -> SpaceRecord:
    return SpaceRecord(
        name=row["name"],
        frame_shape=tuple(json.loads(row["frame_shape"])),
        dtype=row["dtype"],
        player_dim=row["player_dim"],
        model=row["model"],
        version=row["version"],
        vocab_size=row["vocab_size"],
        max_players=row["max_players"],
        reference=json.loads(row["reference"]),
        decoder=row["decoder"],
        created_at=row["created_at"],
    )


def world_row(world: WorldRecord) -> dict[str, Any]:
    """The ``worlds`` row of a record; its readers are rows of ``world_readers`` (``_worlds.put_readers``)."""
    row = fields(world)
    del row["readers"]
    row.pop("deleted_at")  # set by deleting the world, never by writing its record
    row["origin"] = to_json("world.origin", world.origin)
    return row


def world_record(row: Mapping[str, Any], readers: Sequence[str] = ()) -> WorldRecord:
    return WorldRecord(**{**row, "origin": json.loads(row["origin"]), "readers": tuple(readers)})


def snapshot_row(record: SnapshotRecord) -> dict[str, Any]:
    row = fields(record)
    del row["parents"]
    del row["pruned_at"], row["seq"]  # set by pruning and by the commit, never by writing the record
    row["provenance"] = to_json("provenance", record.provenance)
    return row


def snapshot_record(row: Mapping[str, Any], parents: Sequence[str]) -> SnapshotRecord:
    fields = dict(row)
    fields["provenance"] = json.loads(fields["provenance"])
    return SnapshotRecord(parents=tuple(parents), **fields)


def diff(stored: Any, given: Any) -> str:
    changed = [
        f"{name}: stored {getattr(stored, name)!r}, given {getattr(given, name)!r}"
        for name in stored.__dataclass_fields__
        if name != "created_at" and getattr(stored, name) != getattr(given, name)
    ]
    return "; ".join(changed)


# checks


def need_name(field: str, value: str) -> None:
    if not value:
        raise InvalidArgument(field, value, f"give a non-empty {field}")


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument("limit", limit, f"use a limit between 1 and {MAX_LIMIT}")


def check_record(record: SnapshotRecord) -> None:
    """What can be checked without the database: the id is the hash of the body, parents are distinct."""
    need_name("world", record.world)
    to_json("provenance", record.provenance)
    want = record.sealed().id
    if record.id != want:
        raise InvalidArgument(
            "id",
            record.id,
            f"set it to {want}, the sha256 of the record's canonical JSON (records.snapshot_id)",
        )
    if len(set(record.parents)) != len(record.parents):
        raise InvalidArgument("parents", record.parents, "name each parent once")


def check_generation(record: SnapshotRecord, parents: Mapping[str, int]) -> None:
    want = 1 + max(parents.values(), default=0)
    if record.generation != want:
        raise InvalidArgument(
            "generation",
            record.generation,
            f"set it to {want}: 1 + the largest generation among the parents (1 for a snapshot without parents)",
        )


# log cursors: opaque to callers; they carry the walk's frontier, bound to the start they came from


def encode_cursor(start: str, frontier: list[str]) -> str:
    return base64.urlsafe_b64encode(canonical_json({"v": 1, "start": start, "frontier": frontier})).decode()


def decode_cursor(cursor: str, start: str) -> list[str]:
    try:
        # a caller's text: bounded in size and nesting before it is parsed (multiverse.jsonsafe)
        data = jsonsafe.loads(base64.urlsafe_b64decode(cursor.encode()), field="cursor", max_bytes=1 << 20)
        frontier = [str(sid) for sid in data["frontier"]] if data["v"] == 1 else []
        origin = data["start"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError, InvalidArgument):
        frontier, origin = [], start
    if not frontier or not all(HEX.fullmatch(sid) and len(sid) == 64 for sid in frontier):
        raise InvalidArgument(
            "cursor", cursor, "pass back the next_cursor a previous log call returned, unchanged"
        )
    if origin != start:
        raise InvalidArgument(
            "cursor",
            cursor,
            f"this cursor continues the log of {origin!r}, not of {start!r}: use the same start",
        )
    return frontier
