import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeleteWorldRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PruneSnapshotsRequest(_message.Message):
    __slots__ = ("before", "world", "dry_run")
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    before: _timestamp_pb2.Timestamp
    world: str
    dry_run: bool
    def __init__(self, before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., world: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class PruneResult(_message.Message):
    __slots__ = ("pruned", "kept", "heads", "dry_run")
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    pruned: int
    kept: int
    heads: int
    dry_run: bool
    def __init__(self, pruned: _Optional[int] = ..., kept: _Optional[int] = ..., heads: _Optional[int] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class CollectGarbageRequest(_message.Message):
    __slots__ = ("grace_s", "dry_run")
    GRACE_S_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    grace_s: float
    dry_run: bool
    def __init__(self, grace_s: _Optional[float] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class Swept(_message.Message):
    __slots__ = ("count", "bytes")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    count: int
    bytes: int
    def __init__(self, count: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class CollectGarbageResponse(_message.Message):
    __slots__ = ("dry_run", "grace_s", "chunks", "packs", "manifests", "whole", "kept_snapshots", "kept_states", "live_chunks", "held_packs", "held_bytes", "seconds")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    GRACE_S_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    PACKS_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    WHOLE_FIELD_NUMBER: _ClassVar[int]
    KEPT_SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    KEPT_STATES_FIELD_NUMBER: _ClassVar[int]
    LIVE_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    HELD_PACKS_FIELD_NUMBER: _ClassVar[int]
    HELD_BYTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    grace_s: float
    chunks: Swept
    packs: Swept
    manifests: Swept
    whole: Swept
    kept_snapshots: int
    kept_states: int
    live_chunks: int
    held_packs: int
    held_bytes: int
    seconds: float
    def __init__(self, dry_run: _Optional[bool] = ..., grace_s: _Optional[float] = ..., chunks: _Optional[_Union[Swept, _Mapping]] = ..., packs: _Optional[_Union[Swept, _Mapping]] = ..., manifests: _Optional[_Union[Swept, _Mapping]] = ..., whole: _Optional[_Union[Swept, _Mapping]] = ..., kept_snapshots: _Optional[int] = ..., kept_states: _Optional[int] = ..., live_chunks: _Optional[int] = ..., held_packs: _Optional[int] = ..., held_bytes: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...
