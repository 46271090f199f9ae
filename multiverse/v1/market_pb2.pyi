from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignInNonceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignInNonceResponse(_message.Message):
    __slots__ = ("nonce", "domain", "uri", "chain_id")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    domain: str
    uri: str
    chain_id: int
    def __init__(self, nonce: _Optional[str] = ..., domain: _Optional[str] = ..., uri: _Optional[str] = ..., chain_id: _Optional[int] = ...) -> None: ...

class SignInRequest(_message.Message):
    __slots__ = ("message", "signature")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    message: str
    signature: str
    def __init__(self, message: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class SignInResponse(_message.Message):
    __slots__ = ("token", "address", "expires_at")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    token: str
    address: str
    expires_at: float
    def __init__(self, token: _Optional[str] = ..., address: _Optional[str] = ..., expires_at: _Optional[float] = ...) -> None: ...

class SetPayoutAddressRequest(_message.Message):
    __slots__ = ("principal", "address")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    principal: str
    address: str
    def __init__(self, principal: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class SetPayoutAddressResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Token(_message.Message):
    __slots__ = ("token_id", "chain_id", "contract", "owner", "discoverer", "space", "snapshot", "kind", "index", "tier", "percentile", "dtype", "shape", "mint_tx", "created_at", "score", "index_version", "index_digest", "calibration_hash", "commitment")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DISCOVERER_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    MINT_TX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_DIGEST_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_HASH_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    chain_id: int
    contract: str
    owner: str
    discoverer: str
    space: str
    snapshot: str
    kind: str
    index: int
    tier: str
    percentile: float
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    mint_tx: str
    created_at: float
    score: float
    index_version: str
    index_digest: str
    calibration_hash: str
    commitment: str
    def __init__(self, token_id: _Optional[str] = ..., chain_id: _Optional[int] = ..., contract: _Optional[str] = ..., owner: _Optional[str] = ..., discoverer: _Optional[str] = ..., space: _Optional[str] = ..., snapshot: _Optional[str] = ..., kind: _Optional[str] = ..., index: _Optional[int] = ..., tier: _Optional[str] = ..., percentile: _Optional[float] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., mint_tx: _Optional[str] = ..., created_at: _Optional[float] = ..., score: _Optional[float] = ..., index_version: _Optional[str] = ..., index_digest: _Optional[str] = ..., calibration_hash: _Optional[str] = ..., commitment: _Optional[str] = ...) -> None: ...

class VerifyTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class VerificationDifference(_message.Message):
    __slots__ = ("field", "recorded", "found", "why")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    field: str
    recorded: str
    found: str
    why: str
    def __init__(self, field: _Optional[str] = ..., recorded: _Optional[str] = ..., found: _Optional[str] = ..., why: _Optional[str] = ...) -> None: ...

class TokenVerification(_message.Message):
    __slots__ = ("token_id", "status", "reason", "differences", "recorded_json", "recomputed_json")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    RECORDED_JSON_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTED_JSON_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    status: str
    reason: str
    differences: _containers.RepeatedCompositeFieldContainer[VerificationDifference]
    recorded_json: str
    recomputed_json: str
    def __init__(self, token_id: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., differences: _Optional[_Iterable[_Union[VerificationDifference, _Mapping]]] = ..., recorded_json: _Optional[str] = ..., recomputed_json: _Optional[str] = ...) -> None: ...

class ClaimRequest(_message.Message):
    __slots__ = ("space", "snapshot", "kind", "index")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    space: str
    snapshot: str
    kind: str
    index: int
    def __init__(self, space: _Optional[str] = ..., snapshot: _Optional[str] = ..., kind: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class GetTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("owner", "space", "tier", "page_size", "page_token")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner: str
    space: str
    tier: str
    page_size: int
    page_token: str
    def __init__(self, owner: _Optional[str] = ..., space: _Optional[str] = ..., tier: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens", "next_page_token")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[Token]
    next_page_token: str
    def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarketListing(_message.Message):
    __slots__ = ("listing_hash", "seller", "token", "token_id", "price", "fee_recipient", "fee", "counter", "salt", "expiry", "signature", "status", "token_nonce")
    LISTING_HASH_FIELD_NUMBER: _ClassVar[int]
    SELLER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    FEE_RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_NONCE_FIELD_NUMBER: _ClassVar[int]
    listing_hash: str
    seller: str
    token: str
    token_id: str
    price: str
    fee_recipient: str
    fee: str
    counter: str
    salt: str
    expiry: str
    signature: bytes
    status: str
    token_nonce: str
    def __init__(self, listing_hash: _Optional[str] = ..., seller: _Optional[str] = ..., token: _Optional[str] = ..., token_id: _Optional[str] = ..., price: _Optional[str] = ..., fee_recipient: _Optional[str] = ..., fee: _Optional[str] = ..., counter: _Optional[str] = ..., salt: _Optional[str] = ..., expiry: _Optional[str] = ..., signature: _Optional[bytes] = ..., status: _Optional[str] = ..., token_nonce: _Optional[str] = ...) -> None: ...

class ListingsRequest(_message.Message):
    __slots__ = ("token_id", "seller", "status", "page_size")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SELLER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    seller: str
    status: str
    page_size: int
    def __init__(self, token_id: _Optional[str] = ..., seller: _Optional[str] = ..., status: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListingsResponse(_message.Message):
    __slots__ = ("listings",)
    LISTINGS_FIELD_NUMBER: _ClassVar[int]
    listings: _containers.RepeatedCompositeFieldContainer[MarketListing]
    def __init__(self, listings: _Optional[_Iterable[_Union[MarketListing, _Mapping]]] = ...) -> None: ...

class ChainEventInfo(_message.Message):
    __slots__ = ("contract", "name", "block_number", "block_hash", "tx_hash", "log_index", "args_json")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    contract: str
    name: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    args_json: str
    def __init__(self, contract: _Optional[str] = ..., name: _Optional[str] = ..., block_number: _Optional[int] = ..., block_hash: _Optional[str] = ..., tx_hash: _Optional[str] = ..., log_index: _Optional[int] = ..., args_json: _Optional[str] = ...) -> None: ...

class HistoryRequest(_message.Message):
    __slots__ = ("token_id", "page_size")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    page_size: int
    def __init__(self, token_id: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class HistoryResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ChainEventInfo]
    def __init__(self, events: _Optional[_Iterable[_Union[ChainEventInfo, _Mapping]]] = ...) -> None: ...

class DownloadVectorRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class DownloadVectorResponse(_message.Message):
    __slots__ = ("token", "data", "sha256")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    token: Token
    data: bytes
    sha256: str
    def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ..., data: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class PrepareListingRequest(_message.Message):
    __slots__ = ("token_id", "price", "expiry")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    price: str
    expiry: int
    def __init__(self, token_id: _Optional[str] = ..., price: _Optional[str] = ..., expiry: _Optional[int] = ...) -> None: ...

class PrepareListingResponse(_message.Message):
    __slots__ = ("listing", "typed_data_json", "digest")
    LISTING_FIELD_NUMBER: _ClassVar[int]
    TYPED_DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    listing: MarketListing
    typed_data_json: str
    digest: str
    def __init__(self, listing: _Optional[_Union[MarketListing, _Mapping]] = ..., typed_data_json: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class SubmitListingRequest(_message.Message):
    __slots__ = ("listing", "signature")
    LISTING_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    listing: MarketListing
    signature: bytes
    def __init__(self, listing: _Optional[_Union[MarketListing, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class GetChainInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChainInfo(_message.Message):
    __slots__ = ("chain_id", "token", "exchange", "rpc_url", "deployed_at")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    RPC_URL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_AT_FIELD_NUMBER: _ClassVar[int]
    chain_id: int
    token: str
    exchange: str
    rpc_url: str
    deployed_at: int
    def __init__(self, chain_id: _Optional[int] = ..., token: _Optional[str] = ..., exchange: _Optional[str] = ..., rpc_url: _Optional[str] = ..., deployed_at: _Optional[int] = ...) -> None: ...
