"""The JSON-RPC adapter: any Ethereum node by URL (anvil in tests, a real network in production)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from ._web3chain import Web3Chain
from .base import Contracts, DeployOptions
from .config import ChainConfig


class RpcChain(Web3Chain):
    """Attaches to ``config.token``/``config.exchange`` when given; otherwise deploys them with the minter key
    (``deploy_on_start=False`` leaves that to the caller)."""

    def __init__(self, config: ChainConfig, *, deploy_on_start: bool = True) -> None:
        assert config.minter_key is not None  # ChainConfig guarantees it for rpc
        provider = HTTPProvider(
            config.rpc_url,
            request_kwargs={"timeout": config.timeout_s},
            # a few quick retries, then Unavailable (retriable) goes to the caller
            exception_retry_configuration=ExceptionRetryConfiguration(
                errors=(ConnectionError, requests.HTTPError, requests.Timeout), retries=2, backoff_factor=0.1
            ),
        )
        super().__init__(
            Web3(provider),
            config.minter_key,
            where=public_url(config.rpc_url),
            timeout_s=config.timeout_s,
            artifacts_dir=config.artifacts_dir,
            expected_chain_id=config.chain_id,
        )
        if config.token and config.exchange:
            self.attach(Contracts(self.chain_id(), config.token, config.exchange, config.from_block))
        elif deploy_on_start:
            self.deploy(DeployOptions(config.royalty_bps, config.base_uri, config.contract_uri, config.admin))


def public_url(url: str) -> str:
    """``scheme://host:port`` of a node URL: paths, queries and user info often hold API keys."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
