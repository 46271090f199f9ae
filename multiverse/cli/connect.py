"""How the CLI's client commands reach the service: the address, key and TLS material from flags, environment
(``MULTIVERSE_GRPC``, ``MULTIVERSE_KEY``, ``MULTIVERSE_TLS_*``) or the data directory's ``admin.key``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

DEFAULT_GRPC = "localhost:50051"


def data_dir(args: argparse.Namespace) -> Path:
    """--data, else $MULTIVERSE_DATA, else ./data."""
    return args.data or Path(os.environ.get("MULTIVERSE_DATA", "data"))


def client(args: argparse.Namespace):
    """A ``Client`` for --grpc with --key ($MULTIVERSE_KEY, else the data directory's admin.key) and TLS if asked."""
    from multiverse.client import Client

    key = args.key or os.environ.get("MULTIVERSE_KEY")
    admin_file = data_dir(args) / "admin.key"
    if not key and admin_file.exists():
        key = admin_file.read_text().strip()
    return Client(args.grpc or os.environ.get("MULTIVERSE_GRPC", DEFAULT_GRPC), key, tls=client_tls(args))


def client_tls(args: argparse.Namespace):
    """The client's TLS material from --tls-ca / --tls / --tls-client-cert / --tls-client-key (or $MULTIVERSE_TLS_*);
    None: plaintext."""
    from multiverse.tlsconfig import ClientTls

    ca = args.tls_ca or os.environ.get("MULTIVERSE_TLS_CA")
    cert = args.tls_client_cert or os.environ.get("MULTIVERSE_TLS_CLIENT_CERT")
    key = args.tls_client_key or os.environ.get("MULTIVERSE_TLS_CLIENT_KEY")
    if not (ca or cert or key or args.tls):
        return None
    return ClientTls.from_files(ca=ca, cert=cert, key=key)


def show(message) -> None:
    """Print a reply message as indented JSON."""
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))
