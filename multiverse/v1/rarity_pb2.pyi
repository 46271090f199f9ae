from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VectorRef(_message.Message):
    __slots__ = ("snapshot", "kind", "index")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    snapshot: str
    kind: str
    index: int
    def __init__(self, snapshot: _Optional[str] = ..., kind: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class Vectors(_message.Message):
    __slots__ = ("shape", "dtype", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class RarityScore(_message.Message):
    __slots__ = ("id", "space", "world", "score", "percentile", "tier", "knn_distance", "local_ratio", "reference_rarity", "uncharted", "neighbors_used", "copies", "index_version", "n", "calibration_version", "percentile_low", "percentile_high", "tier_uncertain", "explanation")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    KNN_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_RATIO_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_RARITY_FIELD_NUMBER: _ClassVar[int]
    UNCHARTED_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_USED_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_VERSION_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_LOW_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_HIGH_FIELD_NUMBER: _ClassVar[int]
    TIER_UNCERTAIN_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    id: VectorRef
    space: str
    world: str
    score: float
    percentile: float
    tier: str
    knn_distance: float
    local_ratio: float
    reference_rarity: float
    uncharted: bool
    neighbors_used: int
    copies: int
    index_version: str
    n: int
    calibration_version: str
    percentile_low: float
    percentile_high: float
    tier_uncertain: bool
    explanation: Explanation
    def __init__(self, id: _Optional[_Union[VectorRef, _Mapping]] = ..., space: _Optional[str] = ..., world: _Optional[str] = ..., score: _Optional[float] = ..., percentile: _Optional[float] = ..., tier: _Optional[str] = ..., knn_distance: _Optional[float] = ..., local_ratio: _Optional[float] = ..., reference_rarity: _Optional[float] = ..., uncharted: _Optional[bool] = ..., neighbors_used: _Optional[int] = ..., copies: _Optional[int] = ..., index_version: _Optional[str] = ..., n: _Optional[int] = ..., calibration_version: _Optional[str] = ..., percentile_low: _Optional[float] = ..., percentile_high: _Optional[float] = ..., tier_uncertain: _Optional[bool] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("neighbors", "basis", "dimensions", "cells")
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    neighbors: _containers.RepeatedCompositeFieldContainer[Neighbor]
    basis: str
    dimensions: _containers.RepeatedCompositeFieldContainer[Deviation]
    cells: CellGrid
    def __init__(self, neighbors: _Optional[_Iterable[_Union[Neighbor, _Mapping]]] = ..., basis: _Optional[str] = ..., dimensions: _Optional[_Iterable[_Union[Deviation, _Mapping]]] = ..., cells: _Optional[_Union[CellGrid, _Mapping]] = ...) -> None: ...

class Deviation(_message.Message):
    __slots__ = ("index", "position", "value", "mean", "std", "z")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    index: int
    position: _containers.RepeatedScalarFieldContainer[int]
    value: float
    mean: float
    std: float
    z: float
    def __init__(self, index: _Optional[int] = ..., position: _Optional[_Iterable[int]] = ..., value: _Optional[float] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., z: _Optional[float] = ...) -> None: ...

class CellGrid(_message.Message):
    __slots__ = ("rows", "cols", "values", "row_edges", "col_edges")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ROW_EDGES_FIELD_NUMBER: _ClassVar[int]
    COL_EDGES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    values: _containers.RepeatedScalarFieldContainer[float]
    row_edges: _containers.RepeatedScalarFieldContainer[int]
    col_edges: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., row_edges: _Optional[_Iterable[int]] = ..., col_edges: _Optional[_Iterable[int]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("space", "kind", "vectors")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    space: str
    kind: str
    vectors: Vectors
    def __init__(self, space: _Optional[str] = ..., kind: _Optional[str] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("scores",)
    SCORES_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[RarityScore]
    def __init__(self, scores: _Optional[_Iterable[_Union[RarityScore, _Mapping]]] = ...) -> None: ...

class TopRareRequest(_message.Message):
    __slots__ = ("space", "kind", "tier", "world", "page_size", "page_token")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    space: str
    kind: str
    tier: str
    world: str
    page_size: int
    page_token: str
    def __init__(self, space: _Optional[str] = ..., kind: _Optional[str] = ..., tier: _Optional[str] = ..., world: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TopRareResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RarityScore]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[RarityScore, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RarityOfRequest(_message.Message):
    __slots__ = ("id", "brief")
    ID_FIELD_NUMBER: _ClassVar[int]
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    id: VectorRef
    brief: bool
    def __init__(self, id: _Optional[_Union[VectorRef, _Mapping]] = ..., brief: _Optional[bool] = ...) -> None: ...

class NeighborsRequest(_message.Message):
    __slots__ = ("id", "vector", "space", "kind", "k", "world")
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    id: VectorRef
    vector: Vectors
    space: str
    kind: str
    k: int
    world: str
    def __init__(self, id: _Optional[_Union[VectorRef, _Mapping]] = ..., vector: _Optional[_Union[Vectors, _Mapping]] = ..., space: _Optional[str] = ..., kind: _Optional[str] = ..., k: _Optional[int] = ..., world: _Optional[str] = ...) -> None: ...

class Neighbor(_message.Message):
    __slots__ = ("id", "distance", "copies")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    id: VectorRef
    distance: float
    copies: int
    def __init__(self, id: _Optional[_Union[VectorRef, _Mapping]] = ..., distance: _Optional[float] = ..., copies: _Optional[int] = ...) -> None: ...

class NeighborsResponse(_message.Message):
    __slots__ = ("neighbors",)
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    neighbors: _containers.RepeatedCompositeFieldContainer[Neighbor]
    def __init__(self, neighbors: _Optional[_Iterable[_Union[Neighbor, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("space",)
    SPACE_FIELD_NUMBER: _ClassVar[int]
    space: str
    def __init__(self, space: _Optional[str] = ...) -> None: ...

class KindStats(_message.Message):
    __slots__ = ("kind", "points", "ids", "snapshots", "worlds", "dim", "embedder", "index_kind", "nlist", "nprobe", "measured_recall", "index_version", "calibration_version", "calibrated_n", "backend")
    KIND_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    WORLDS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    NLIST_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    MEASURED_RECALL_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_VERSION_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_N_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    points: int
    ids: int
    snapshots: int
    worlds: int
    dim: int
    embedder: str
    index_kind: str
    nlist: int
    nprobe: int
    measured_recall: float
    index_version: str
    calibration_version: str
    calibrated_n: int
    backend: str
    def __init__(self, kind: _Optional[str] = ..., points: _Optional[int] = ..., ids: _Optional[int] = ..., snapshots: _Optional[int] = ..., worlds: _Optional[int] = ..., dim: _Optional[int] = ..., embedder: _Optional[str] = ..., index_kind: _Optional[str] = ..., nlist: _Optional[int] = ..., nprobe: _Optional[int] = ..., measured_recall: _Optional[float] = ..., index_version: _Optional[str] = ..., calibration_version: _Optional[str] = ..., calibrated_n: _Optional[int] = ..., backend: _Optional[str] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("space", "kinds", "pending", "gpu")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    space: str
    kinds: _containers.RepeatedCompositeFieldContainer[KindStats]
    pending: int
    gpu: bool
    def __init__(self, space: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[KindStats, _Mapping]]] = ..., pending: _Optional[int] = ..., gpu: _Optional[bool] = ...) -> None: ...

class WatchRareRequest(_message.Message):
    __slots__ = ("space", "kind", "tier")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    space: str
    kind: str
    tier: str
    def __init__(self, space: _Optional[str] = ..., kind: _Optional[str] = ..., tier: _Optional[str] = ...) -> None: ...
