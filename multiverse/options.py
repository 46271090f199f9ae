"""Every setting, spelled once: one row per setting (where its value goes, its ``MULTIVERSE_*`` variable, its flag,
its help and its parser). ``multiverse.config`` takes its env parsing from these rows, and derives from them the CLI's flags
(``config.add_flags``) and the README's configuration table (``config.markdown_table``; tests/test_config.py
checks the README holds it). Defaults are the dataclasses' own (``Settings``, ``Limits``, ``MarketSettings``, ``ChainConfig``,
...), read from their fields, so a default is written once too.

Nothing here reads the environment at import time: callers pass ``os.environ`` (or a dict) at the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from multiverse.errors import InvalidArgument

Parse = Callable[[str, str], object]  # (variable or flag name, raw text) -> value; InvalidArgument naming it


def text(_name: str, raw: str) -> str:
    return raw


def path(_name: str, raw: str) -> Path:
    return Path(raw)


def integer(name: str, raw: str) -> int:
    try:
        return int(raw, 0) if raw.lower().startswith("0x") else int(raw)
    except ValueError:
        raise InvalidArgument(name, raw, "set a whole number, e.g. 100000") from None


def count(name: str, raw: str) -> int:
    value = integer(name, raw)
    if value <= 0:
        raise InvalidArgument(name, raw, "set a positive whole number, e.g. 100000")
    return value


def number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise InvalidArgument(name, raw, "set a number (float), e.g. 30") from None


def switch(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in ("off", "0", "false", "no"):
        return False
    if word in ("on", "1", "true", "yes"):
        return True
    raise InvalidArgument(name, raw, "use on or off")


def origins(name: str, raw: str) -> tuple[str, ...]:
    from multiverse.chain.http_rpc import parse_cors_origins

    return tuple(sorted(parse_cors_origins(raw, name)))


def listen_or_off(name: str, raw: str) -> str:
    """A ``host:port`` to listen on, or "" for "off"/"" (serve nothing there)."""
    word = raw.strip()
    if word.lower() in ("", "off"):
        return ""
    host, sep, port = word.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(name, raw, "use host:port, e.g. 127.0.0.1:8080 (port 0: any free port), or off")
    return word


def positive(name: str, raw: str) -> float:
    value = number(name, raw)
    if not value > 0:
        raise InvalidArgument(name, raw, "set a positive number, e.g. 20")
    return value


SERVICES = ("store", "multiverse", "rarity", "market", "http")  # what `serve --services` may name; `up` runs all


def service_list(name: str, raw: str) -> tuple[str, ...]:
    """A comma list of ``SERVICES`` (any order, each once at most), in ``SERVICES``' order."""
    given = [word.strip().lower() for word in raw.split(",") if word.strip()]
    unknown = sorted(set(given) - set(SERVICES))
    if unknown or not given:
        raise InvalidArgument(name, raw, f"name one or more of {','.join(SERVICES)}, comma-separated, e.g. "
                              "store,multiverse" + (f" ({', '.join(unknown)} is no service)" if unknown else ""))
    return tuple(s for s in SERVICES if s in given)


def secret(_name: str, raw: str) -> object:
    from multiverse.chain.config import minter_key

    return minter_key(raw)


@dataclass(frozen=True)
class Option:
    """One setting. ``path``: where the value goes in ``Settings`` (dotted through nested settings; ``client.*``
    for the client commands' connection, which has no server setting); ``scope``: which commands take the flag
    (``up``: ``up`` and ``serve``, ``serve``: ``serve`` only, ``global``: every command, or ``""``: environment
    only)."""

    path: str
    env: str
    help: str
    parse: Parse = text
    flag: str = ""
    scope: str = ""
    shown_default: str = ""  # the README's default where the dataclass's is not telling (derived, or a secret)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


O = Option
OPTIONS: tuple[Option, ...] = (
    # where things live
    O("data_dir", "MULTIVERSE_DATA", "data directory (metadata, blobs, keys, the chain)", path, "--data", "global"),
    O("grpc_addr", "MULTIVERSE_LISTEN", "address `up` (or `serve`) serves gRPC on (port 0: any free port)", text, "--listen", "up"),
    O("services", "MULTIVERSE_SERVICES", "what `serve` runs in this process: a comma list of store, multiverse, "
      "rarity, market, http", service_list, "--services", "serve", "all"),
    O("db_url", "MULTIVERSE_DB", "metadata URL, e.g. postgresql+psycopg://user@host/db", text, "--db", "up",
      "SQLite in the data dir"),
    O("blob_url", "MULTIVERSE_BLOBS", "blob store: a directory or s3://bucket/prefix?endpoint=host:9000&secure=false",
      text, "--blobs", "up", "the data dir's blobs/"),
    O("s3_access_key", "MULTIVERSE_S3_ACCESS_KEY", "S3 access key for --blobs s3://..."),
    O("s3_secret_key", "MULTIVERSE_S3_SECRET_KEY", "S3 secret key"),
    # TLS on the server's ports
    O("tls.cert", "MULTIVERSE_TLS_CERT", "serve TLS with this PEM certificate chain", path, "--tls-cert", "up",
      "none: plaintext"),
    O("tls.key", "MULTIVERSE_TLS_KEY", "its PEM private key", path, "--tls-key", "up", "none"),
    O("tls.client_ca", "MULTIVERSE_TLS_CLIENT_CA", "mutual TLS: require client certificates signed by this PEM CA",
      path, "--tls-client-ca", "up", "none: no client certificates"),
    # concurrency (services/limits.py)
    O("workers", "MULTIVERSE_WORKERS", "worker threads, also the cap on calls served at once", integer),
    O("max_streams", "MULTIVERSE_MAX_STREAMS", "streaming calls at once on the server (0: half the workers)", integer),
    O("max_streams_per_key", "MULTIVERSE_MAX_STREAMS_PER_KEY", "streaming calls at once per API key", integer),
    O("stream_idle_s", "MULTIVERSE_STREAM_IDLE_S", "a stream silent this long (s) is cut", number),
    O("watch_idle_s", "MULTIVERSE_WATCH_IDLE_S", "WatchRare ends after this long (s) without a message", number),
    O("watch_max_s", "MULTIVERSE_WATCH_MAX_S", "WatchRare ends after this long (s) in any case", number),
    # limits
    O("limits.max_state_bytes", "MULTIVERSE_MAX_STATE_BYTES", "one snapshot's state file, bytes", integer),
    O("limits.max_header_bytes", "MULTIVERSE_MAX_HEADER_BYTES", "a state file's JSON header, bytes", integer),
    # rarity
    O("rarity.index.exact_limit", "MULTIVERSE_RARITY_EXACT_LIMIT",
      "points a space's rarity index holds exactly before it turns IVF", count),
    # the market and its chain
    O("market", "MULTIVERSE_MARKET", "the chain and the Market service (off: neither)", switch, shown_default="on"),
    O("market.rpc_listen", "MULTIVERSE_CHAIN_RPC_LISTEN", "where the in-process EVM serves JSON-RPC for wallets"),
    O("market.rpc_cors_origins", "MULTIVERSE_CHAIN_RPC_CORS_ORIGINS",
      "web origins that may call that port (comma-separated)", origins, shown_default="none"),
    O("market.rpc_dev_methods", "MULTIVERSE_CHAIN_RPC_DEV_METHODS",
      "serve eth-tester's test methods there too (development only)", switch, shown_default="off"),
    O("market.poll_s", "MULTIVERSE_MARKET_POLL_S", "how often (s) the indexer follows the chain (0: when asked)", number),
    O("market.market.min_tier", "MULTIVERSE_MARKET_MIN_TIER", "the lowest tier that may be claimed"),
    O("market.market.fee_bps", "MULTIVERSE_MARKET_FEE_BPS", "marketplace fee in prepared listings, basis points", integer),
    O("market.market.fee_recipient", "MULTIVERSE_MARKET_FEE_RECIPIENT", "who receives that fee"),
    O("market.market.confirmations", "MULTIVERSE_MARKET_CONFIRMATIONS", "blocks the indexer stays behind the head",
      integer),
    O("market.market.signin.domain", "MULTIVERSE_MARKET_SIGNIN_DOMAIN", "the host wallets see in sign-in messages"),
    O("market.market.signin.uri", "MULTIVERSE_MARKET_SIGNIN_URI", "the URI sign-in messages must name"),
    O("market.chain.kind", "MULTIVERSE_CHAIN_KIND", "memory (in-process EVM) or rpc", text,
      shown_default="rpc if RPC_URL is set, else memory"),
    O("market.chain.rpc_url", "MULTIVERSE_CHAIN_RPC_URL", "the node's JSON-RPC URL (kind rpc)"),
    O("market.chain.minter_key", "MULTIVERSE_CHAIN_MINTER_KEY", "the minter's private key (64 hex digits)", secret,
      shown_default="memory: made and kept in the data dir"),
    O("market.chain.chain_id", "MULTIVERSE_CHAIN_CHAIN_ID", "the chain id the node must report", integer),
    O("market.chain.token", "MULTIVERSE_CHAIN_TOKEN", "attach to this token contract instead of deploying"),
    O("market.chain.exchange", "MULTIVERSE_CHAIN_EXCHANGE", "attach to this exchange contract (with TOKEN)"),
    O("market.chain.from_block", "MULTIVERSE_CHAIN_FROM_BLOCK", "the attached contracts' deployment block", integer),
    O("market.chain.royalty_bps", "MULTIVERSE_CHAIN_ROYALTY_BPS", "royalty when deploying, basis points", integer),
    O("market.chain.base_uri", "MULTIVERSE_CHAIN_BASE_URI", "the token's base URI when deploying"),
    O("market.chain.contract_uri", "MULTIVERSE_CHAIN_CONTRACT_URI", "the token's contract URI when deploying"),
    O("market.chain.admin", "MULTIVERSE_CHAIN_ADMIN", "the token's admin address when deploying",
      shown_default="memory: made and kept in the data dir"),
    O("market.chain.timeout_s", "MULTIVERSE_CHAIN_TIMEOUT_S", "a node call's timeout (s)", number),
    O("market.chain.artifacts_dir", "MULTIVERSE_CHAIN_ARTIFACTS", "compiled contracts' directory", path,
      shown_default="the package's"),
    O("market.chain.data_dir", "MULTIVERSE_CHAIN_DIR", "where the in-process chain is kept", path,
      shown_default="the data dir's chain/"),
    # the HTTP gateway
    O("http_listen", "MULTIVERSE_HTTP_LISTEN", "address `up` (or `serve` with http) serves the gallery and JSON API "
      "on (off: not served; a taken port falls back to a free one)", listen_or_off, "--http", "up"),
    O("http_rate", "MULTIVERSE_HTTP_RATE", "public HTTP reads per second per client address", positive),
    O("http_burst", "MULTIVERSE_HTTP_BURST", "public HTTP reads a client address may make at once", count),
    O("http_max_feeds", "MULTIVERSE_HTTP_MAX_FEEDS", "live feeds (server-sent events) open at once", count),
    # the kernels
    O("fused", "MULTIVERSE_FUSED", "merge_kernels' fused CPU loops (off: eager torch only)", switch),
    # the client commands
    O("client.grpc", "MULTIVERSE_GRPC", "service address the client commands connect to (a comma list of "
      "replicas: round-robin over the healthy ones)", text, "--grpc", "global", "localhost:50051"),
    O("client.key", "MULTIVERSE_KEY", "API key of the client commands", text, "--key", "global",
      "the data dir's admin.key"),
    O("client.tls_ca", "MULTIVERSE_TLS_CA", "connect over TLS trusting this PEM CA", text, "--tls-ca", "global",
      "none: plaintext"),
    O("client.tls_client_cert", "MULTIVERSE_TLS_CLIENT_CERT", "client certificate for mutual TLS", text,
      "--tls-client-cert", "global"),
    O("client.tls_client_key", "MULTIVERSE_TLS_CLIENT_KEY", "its private key", text, "--tls-client-key", "global"),
    O("client.wallet_key", "MULTIVERSE_WALLET_KEY", "the wallet's private key file (`--wallet-key` of the market "
      "commands)", shown_default="none"),
)
BY_ENV = {o.env: o for o in OPTIONS}


def read(env: Mapping[str, str], flags: Mapping[str, object] | None = None, only: tuple[str, ...] = ()
         ) -> dict[str, object]:
    """``{path: value}`` for every setting given (``only``: those whose path starts so): a flag (already typed by
    argparse, or text) over the variable. Empty variables count as not given."""
    found: dict[str, object] = {}
    for option in OPTIONS:
        if only and not option.path.startswith(only):
            continue
        given = (flags or {}).get(option.dest) if option.flag else None
        if given is not None:
            found[option.path] = option.parse(option.flag, str(given)) if isinstance(given, str) else given
            continue
        raw = env.get(option.env, "")
        if raw != "":
            found[option.path] = option.parse(option.env, raw)
    return found
