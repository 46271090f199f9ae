"""One-shot setup of a split Multiverse deployment: the compose file's ``setup`` service and the Kubernetes Job
``multiverse-setup`` run it once before the services need it; it is safe to run again (each step is a no-op when
done). It reads the services' own settings (``MULTIVERSE_*``, ``Settings.from_env``), so it sets up exactly what
they will use:

1. the metadata, migrated to head (the services migrate too, under PostgreSQL's advisory lock; done here first,
   no service start waits on it);
2. the blob store's bucket, created when missing (no service creates one: ``S3BlobStore`` expects it);
3. the chain's contracts: attached when ``MULTIVERSE_CHAIN_TOKEN``/``EXCHANGE`` already hold code, else deployed
   with the minter key. The deployed addresses must be the configured ones (on a fresh development chain the
   deployer's first two contracts land at addresses known in advance); otherwise it stops with the addresses to
   configure, because two market replicas must never deploy a token each;
4. the admin key, minted when the metadata has none and shown once on stdout, as ``multiverse up`` does.

Run from the image: ``python /app/deploy/setup.py``. Exit status 0 when all is set up, 1 with one line naming
the cause and its fix otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping


def main(env: Mapping[str, str] | None = None) -> int:
    from multiverse import errors
    from multiverse.config import Settings

    try:
        settings = Settings.from_env(env)
        _metadata_and_bucket(settings)
        if settings.market is not None and settings.market.chain.kind == "rpc":
            _contracts(settings.market.chain)
        return 0
    except errors.MultiverseError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


def _metadata_and_bucket(settings) -> None:
    from multiverse.blobs import open_blob_store
    from multiverse.blobs.s3 import S3BlobStore
    from multiverse.metadata import open_metadata
    from multiverse.store.auth import ensure_admin_key

    meta = open_metadata(settings.database_url)  # migrates to head
    try:
        print(f"metadata: migrated to head ({meta!r})", flush=True)
        blobs = open_blob_store(settings.blobs_url, access_key=settings.s3_access_key or None,
                                secret_key=settings.s3_secret_key or None)
        if isinstance(blobs, S3BlobStore):
            blobs.ensure_bucket()
            print(f"blobs: bucket {blobs.bucket} is there", flush=True)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        token = ensure_admin_key(meta, settings.data_dir)
        if token:  # shown once, as `multiverse up` shows it; clients take it as MULTIVERSE_KEY
            print(f"admin key: {token}\n  (shown once: keep it as a Secret, e.g. kubectl create secret generic "
                  "multiverse-admin --from-literal=MULTIVERSE_KEY=<the key>)", flush=True)
        else:
            print("admin key: one exists already", flush=True)
    finally:
        meta.close()


def _contracts(config) -> None:
    from dataclasses import replace

    from web3 import Web3

    from multiverse.chain.base import Contracts, DeployOptions
    from multiverse.chain.rpc import RpcChain
    from multiverse.errors import FailedPrecondition

    # without the addresses: RpcChain attaches to given ones on construction, which is decided below instead
    chain = RpcChain(replace(config, token=None, exchange=None), deploy_on_start=False)
    try:
        if config.token and config.exchange and all(
            _has_code(config.rpc_url, address) for address in (config.token, config.exchange)
        ):
            found = chain.attach(Contracts(chain.chain_id(), config.token, config.exchange, config.from_block))
            print(f"contracts: attached to token {found.token}, exchange {found.exchange}", flush=True)
            return
        made = chain.deploy(DeployOptions(config.royalty_bps, config.base_uri, config.contract_uri, config.admin))
        print(f"contracts: deployed token {made.token}, exchange {made.exchange} in block {made.deployed_at}",
              flush=True)
        wanted = (Web3.to_checksum_address(config.token or "0x" + "0" * 40),
                  Web3.to_checksum_address(config.exchange or "0x" + "0" * 40))
        if (made.token, made.exchange) != wanted or made.deployed_at < config.from_block:
            raise FailedPrecondition(
                f"the contracts were deployed at token {made.token}, exchange {made.exchange} (block "
                f"{made.deployed_at}) but the services are configured with token {config.token}, exchange "
                f"{config.exchange}, from block {config.from_block}: set MULTIVERSE_CHAIN_TOKEN={made.token}, "
                f"MULTIVERSE_CHAIN_EXCHANGE={made.exchange} and MULTIVERSE_CHAIN_FROM_BLOCK={made.deployed_at}"
            )
    finally:
        chain.close()


def _has_code(rpc_url: str, address: str) -> bool:
    """Whether the node at ``rpc_url`` holds contract code at ``address`` (a fresh chain holds none)."""
    from web3 import HTTPProvider, Web3

    return bool(Web3(HTTPProvider(rpc_url)).eth.get_code(Web3.to_checksum_address(address)))


if __name__ == "__main__":
    sys.exit(main())
