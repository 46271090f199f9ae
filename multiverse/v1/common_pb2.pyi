from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class LatentSpace(_message.Message):
    __slots__ = ("name", "frame_shape", "dtype", "player_dim", "model", "version", "vocab_size", "max_players", "reference_json", "decoder", "created_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    PLAYER_DIM_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_PLAYERS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    DECODER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    frame_shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    player_dim: int
    model: str
    version: str
    vocab_size: int
    max_players: int
    reference_json: str
    decoder: str
    created_at: float
    def __init__(self, name: _Optional[str] = ..., frame_shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., player_dim: _Optional[int] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., vocab_size: _Optional[int] = ..., max_players: _Optional[int] = ..., reference_json: _Optional[str] = ..., decoder: _Optional[str] = ..., created_at: _Optional[float] = ...) -> None: ...

class World(_message.Message):
    __slots__ = ("name", "space", "owner", "description", "created_at", "heads", "visibility", "readers")
    class HeadsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    READERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    space: str
    owner: str
    description: str
    created_at: float
    heads: _containers.ScalarMap[str, str]
    visibility: str
    readers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., space: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[float] = ..., heads: _Optional[_Mapping[str, str]] = ..., visibility: _Optional[str] = ..., readers: _Optional[_Iterable[str]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("id", "world", "parents", "state_sha256", "state_size", "frame_count", "player_count", "generation", "created_at", "provenance_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    STATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    STATE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLAYER_COUNT_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    world: str
    parents: _containers.RepeatedScalarFieldContainer[str]
    state_sha256: str
    state_size: int
    frame_count: int
    player_count: int
    generation: int
    created_at: float
    provenance_json: str
    def __init__(self, id: _Optional[str] = ..., world: _Optional[str] = ..., parents: _Optional[_Iterable[str]] = ..., state_sha256: _Optional[str] = ..., state_size: _Optional[int] = ..., frame_count: _Optional[int] = ..., player_count: _Optional[int] = ..., generation: _Optional[int] = ..., created_at: _Optional[float] = ..., provenance_json: _Optional[str] = ...) -> None: ...
