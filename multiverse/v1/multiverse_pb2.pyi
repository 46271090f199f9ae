from multiverse.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CrossRequest(_message.Message):
    __slots__ = ("parents", "pipeline_json", "op", "params_json", "seed", "align", "frames", "player_policy", "name", "base", "owner", "description")
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_JSON_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ALIGN_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    PLAYER_POLICY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    parents: _containers.RepeatedScalarFieldContainer[str]
    pipeline_json: str
    op: str
    params_json: str
    seed: int
    align: str
    frames: int
    player_policy: str
    name: str
    base: str
    owner: str
    description: str
    def __init__(self, parents: _Optional[_Iterable[str]] = ..., pipeline_json: _Optional[str] = ..., op: _Optional[str] = ..., params_json: _Optional[str] = ..., seed: _Optional[int] = ..., align: _Optional[str] = ..., frames: _Optional[int] = ..., player_policy: _Optional[str] = ..., name: _Optional[str] = ..., base: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CrossStats(_message.Message):
    __slots__ = ("norm_z", "norm_ratio", "channel_mean_divergence", "channel_std_divergence", "parent_share", "json")
    NORM_Z_FIELD_NUMBER: _ClassVar[int]
    NORM_RATIO_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_MEAN_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_STD_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    PARENT_SHARE_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    norm_z: float
    norm_ratio: float
    channel_mean_divergence: float
    channel_std_divergence: float
    parent_share: _containers.RepeatedScalarFieldContainer[float]
    json: str
    def __init__(self, norm_z: _Optional[float] = ..., norm_ratio: _Optional[float] = ..., channel_mean_divergence: _Optional[float] = ..., channel_std_divergence: _Optional[float] = ..., parent_share: _Optional[_Iterable[float]] = ..., json: _Optional[str] = ...) -> None: ...

class CrossProgress(_message.Message):
    __slots__ = ("stage", "fraction")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    stage: str
    fraction: float
    def __init__(self, stage: _Optional[str] = ..., fraction: _Optional[float] = ...) -> None: ...

class CrossResult(_message.Message):
    __slots__ = ("world", "snapshot", "stats", "created", "recipe_sha256")
    WORLD_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    RECIPE_SHA256_FIELD_NUMBER: _ClassVar[int]
    world: _common_pb2.World
    snapshot: _common_pb2.Snapshot
    stats: CrossStats
    created: bool
    recipe_sha256: str
    def __init__(self, world: _Optional[_Union[_common_pb2.World, _Mapping]] = ..., snapshot: _Optional[_Union[_common_pb2.Snapshot, _Mapping]] = ..., stats: _Optional[_Union[CrossStats, _Mapping]] = ..., created: _Optional[bool] = ..., recipe_sha256: _Optional[str] = ...) -> None: ...

class CrossEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: CrossProgress
    result: CrossResult
    def __init__(self, progress: _Optional[_Union[CrossProgress, _Mapping]] = ..., result: _Optional[_Union[CrossResult, _Mapping]] = ...) -> None: ...

class CrossPreview(_message.Message):
    __slots__ = ("stats", "state_sha256", "frame_count", "player_count", "base", "recipe_sha256")
    STATS_FIELD_NUMBER: _ClassVar[int]
    STATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLAYER_COUNT_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    RECIPE_SHA256_FIELD_NUMBER: _ClassVar[int]
    stats: CrossStats
    state_sha256: str
    frame_count: int
    player_count: int
    base: str
    recipe_sha256: str
    def __init__(self, stats: _Optional[_Union[CrossStats, _Mapping]] = ..., state_sha256: _Optional[str] = ..., frame_count: _Optional[int] = ..., player_count: _Optional[int] = ..., base: _Optional[str] = ..., recipe_sha256: _Optional[str] = ...) -> None: ...

class ListOperatorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OperatorParam(_message.Message):
    __slots__ = ("name", "type", "default_json", "allowed", "choices", "doc")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    DOC_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    default_json: str
    allowed: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    doc: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., default_json: _Optional[str] = ..., allowed: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., doc: _Optional[str] = ...) -> None: ...

class OperatorInfo(_message.Message):
    __slots__ = ("name", "family", "summary", "formula", "min_parents", "max_parents", "base", "selection", "random", "params")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FORMULA_FIELD_NUMBER: _ClassVar[int]
    MIN_PARENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_PARENTS_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    RANDOM_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    family: str
    summary: str
    formula: str
    min_parents: int
    max_parents: int
    base: str
    selection: bool
    random: bool
    params: _containers.RepeatedCompositeFieldContainer[OperatorParam]
    def __init__(self, name: _Optional[str] = ..., family: _Optional[str] = ..., summary: _Optional[str] = ..., formula: _Optional[str] = ..., min_parents: _Optional[int] = ..., max_parents: _Optional[int] = ..., base: _Optional[str] = ..., selection: _Optional[bool] = ..., random: _Optional[bool] = ..., params: _Optional[_Iterable[_Union[OperatorParam, _Mapping]]] = ...) -> None: ...

class ListOperatorsResponse(_message.Message):
    __slots__ = ("operators",)
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    operators: _containers.RepeatedCompositeFieldContainer[OperatorInfo]
    def __init__(self, operators: _Optional[_Iterable[_Union[OperatorInfo, _Mapping]]] = ...) -> None: ...
