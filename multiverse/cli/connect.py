"""How the CLI's client commands reach the service: the address, key and TLS material from flags, environment
(``MULTIVERSE_GRPC``, ``MULTIVERSE_KEY``, ``MULTIVERSE_TLS_*``) or the data directory's ``admin.key``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from multiverse import options
from multiverse.config import ClientSettings, Settings


def data_dir(args: argparse.Namespace) -> Path:
    """--data, else $MULTIVERSE_DATA, else ./data."""
    if args.data is not None:
        return args.data
    given = options.read(os.environ, only=("data_dir",))  # the one row, not the server's (the chain's stack)
    return Path(str(given.get("data_dir", Settings.data_dir)))


def client(args: argparse.Namespace):
    """A ``Client`` for --grpc with --key ($MULTIVERSE_KEY, else the data directory's admin.key) and TLS if asked."""
    from multiverse.client import Client

    given = ClientSettings.from_env(flags=vars(args))
    key = given.key
    admin_file = data_dir(args) / "admin.key"
    if not key and admin_file.exists():
        key = admin_file.read_text().strip()
    return Client(given.grpc, key or None, tls=client_tls(args, given))


def client_tls(args: argparse.Namespace, given: ClientSettings | None = None):
    """The client's TLS material from --tls-ca / --tls / --tls-client-cert / --tls-client-key (or $MULTIVERSE_TLS_*);
    None: plaintext. ``given``: the client settings already read from ``args`` and the environment."""
    from multiverse.tlsconfig import ClientTls

    given = given or ClientSettings.from_env(flags=vars(args))
    ca, cert, key = given.tls_ca or None, given.tls_client_cert or None, given.tls_client_key or None
    if not (ca or cert or key or getattr(args, "tls", False)):
        return None
    return ClientTls.from_files(ca=ca, cert=cert, key=key)


def show(message) -> None:
    """Print a reply message as indented JSON."""
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))
