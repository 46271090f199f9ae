from multiverse.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterSpaceRequest(_message.Message):
    __slots__ = ("space",)
    SPACE_FIELD_NUMBER: _ClassVar[int]
    space: _common_pb2.LatentSpace
    def __init__(self, space: _Optional[_Union[_common_pb2.LatentSpace, _Mapping]] = ...) -> None: ...

class GetSpaceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSpacesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSpacesResponse(_message.Message):
    __slots__ = ("spaces",)
    SPACES_FIELD_NUMBER: _ClassVar[int]
    spaces: _containers.RepeatedCompositeFieldContainer[_common_pb2.LatentSpace]
    def __init__(self, spaces: _Optional[_Iterable[_Union[_common_pb2.LatentSpace, _Mapping]]] = ...) -> None: ...

class CreateWorldRequest(_message.Message):
    __slots__ = ("name", "space", "owner", "description", "visibility", "readers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    READERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    space: str
    owner: str
    description: str
    visibility: str
    readers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., space: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., visibility: _Optional[str] = ..., readers: _Optional[_Iterable[str]] = ...) -> None: ...

class GetWorldRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetWorldVisibilityRequest(_message.Message):
    __slots__ = ("world", "visibility", "readers")
    WORLD_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    READERS_FIELD_NUMBER: _ClassVar[int]
    world: str
    visibility: str
    readers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, world: _Optional[str] = ..., visibility: _Optional[str] = ..., readers: _Optional[_Iterable[str]] = ...) -> None: ...

class ListWorldsRequest(_message.Message):
    __slots__ = ("space", "owner", "page_size", "page_token")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    space: str
    owner: str
    page_size: int
    page_token: str
    def __init__(self, space: _Optional[str] = ..., owner: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWorldsResponse(_message.Message):
    __slots__ = ("worlds", "next_page_token")
    WORLDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    worlds: _containers.RepeatedCompositeFieldContainer[_common_pb2.World]
    next_page_token: str
    def __init__(self, worlds: _Optional[_Iterable[_Union[_common_pb2.World, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SaveHeader(_message.Message):
    __slots__ = ("world", "head", "expected_parent", "idempotency_key", "size", "sha256", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORLD_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PARENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    world: str
    head: str
    expected_parent: str
    idempotency_key: str
    size: int
    sha256: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, world: _Optional[str] = ..., head: _Optional[str] = ..., expected_parent: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SaveSnapshotRequest(_message.Message):
    __slots__ = ("header", "chunk", "sha256")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    header: SaveHeader
    chunk: bytes
    sha256: str
    def __init__(self, header: _Optional[_Union[SaveHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class SaveSnapshotResponse(_message.Message):
    __slots__ = ("snapshot", "created")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    snapshot: _common_pb2.Snapshot
    created: bool
    def __init__(self, snapshot: _Optional[_Union[_common_pb2.Snapshot, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ChunkManifest(_message.Message):
    __slots__ = ("size", "addresses", "lengths")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    LENGTHS_FIELD_NUMBER: _ClassVar[int]
    size: int
    addresses: bytes
    lengths: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, size: _Optional[int] = ..., addresses: _Optional[bytes] = ..., lengths: _Optional[_Iterable[int]] = ...) -> None: ...

class FindMissingChunksRequest(_message.Message):
    __slots__ = ("addresses",)
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    addresses: bytes
    def __init__(self, addresses: _Optional[bytes] = ...) -> None: ...

class FindMissingChunksResponse(_message.Message):
    __slots__ = ("missing",)
    MISSING_FIELD_NUMBER: _ClassVar[int]
    missing: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, missing: _Optional[_Iterable[int]] = ...) -> None: ...

class SaveChunk(_message.Message):
    __slots__ = ("index", "data")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    index: int
    data: bytes
    def __init__(self, index: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class SaveChunkBatch(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[SaveChunk]
    def __init__(self, chunks: _Optional[_Iterable[_Union[SaveChunk, _Mapping]]] = ...) -> None: ...

class SaveChunksRequest(_message.Message):
    __slots__ = ("header", "manifest", "chunk", "batch")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    header: SaveHeader
    manifest: ChunkManifest
    chunk: SaveChunk
    batch: SaveChunkBatch
    def __init__(self, header: _Optional[_Union[SaveHeader, _Mapping]] = ..., manifest: _Optional[_Union[ChunkManifest, _Mapping]] = ..., chunk: _Optional[_Union[SaveChunk, _Mapping]] = ..., batch: _Optional[_Union[SaveChunkBatch, _Mapping]] = ...) -> None: ...

class SaveChunksAtOnceRequest(_message.Message):
    __slots__ = ("header", "manifest", "chunks")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    header: SaveHeader
    manifest: ChunkManifest
    chunks: _containers.RepeatedCompositeFieldContainer[SaveChunk]
    def __init__(self, header: _Optional[_Union[SaveHeader, _Mapping]] = ..., manifest: _Optional[_Union[ChunkManifest, _Mapping]] = ..., chunks: _Optional[_Iterable[_Union[SaveChunk, _Mapping]]] = ...) -> None: ...

class LoadSnapshotRequest(_message.Message):
    __slots__ = ("ref", "chunk_size")
    REF_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    chunk_size: int
    def __init__(self, ref: _Optional[str] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class LoadHeader(_message.Message):
    __slots__ = ("snapshot", "size", "sha256", "manifest")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    snapshot: _common_pb2.Snapshot
    size: int
    sha256: str
    manifest: ChunkManifest
    def __init__(self, snapshot: _Optional[_Union[_common_pb2.Snapshot, _Mapping]] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., manifest: _Optional[_Union[ChunkManifest, _Mapping]] = ...) -> None: ...

class LoadSnapshotResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: LoadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[LoadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class LogRequest(_message.Message):
    __slots__ = ("ref", "page_size", "page_token")
    REF_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ref: str
    page_size: int
    page_token: str
    def __init__(self, ref: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LogResponse(_message.Message):
    __slots__ = ("snapshots", "next_page_token")
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[_common_pb2.Snapshot]
    next_page_token: str
    def __init__(self, snapshots: _Optional[_Iterable[_Union[_common_pb2.Snapshot, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class HeadsRequest(_message.Message):
    __slots__ = ("world",)
    WORLD_FIELD_NUMBER: _ClassVar[int]
    world: str
    def __init__(self, world: _Optional[str] = ...) -> None: ...

class HeadsResponse(_message.Message):
    __slots__ = ("heads",)
    class HeadsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HEADS_FIELD_NUMBER: _ClassVar[int]
    heads: _containers.ScalarMap[str, str]
    def __init__(self, heads: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("principal", "role")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    principal: str
    role: str
    def __init__(self, principal: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key_id", "token", "principal", "role")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    token: str
    principal: str
    role: str
    def __init__(self, key_id: _Optional[str] = ..., token: _Optional[str] = ..., principal: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("principal", "role", "key_id")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    principal: str
    role: str
    key_id: str
    def __init__(self, principal: _Optional[str] = ..., role: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...
