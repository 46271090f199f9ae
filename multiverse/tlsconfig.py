"""TLS material for the service's ports and for its clients: which PEM files, read and checked once at the edge.

The server side (``ServerTls``) serves gRPC and the HTTP ports over TLS when given a certificate chain and its
private key; with ``client_ca`` it also asks every client for a certificate signed by that CA (mutual TLS).
The client side (``ClientTls``) trusts ``ca`` (the system's roots when empty) and, for mutual TLS, presents
``cert`` and ``key``. Nothing here opens a socket: services/server.py and multiverse/client/client.py build the gRPC
credentials, and the HTTP servers an ``ssl.SSLContext`` (``server_context``).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from multiverse.errors import InvalidArgument

MAX_PEM = 1 << 20  # a certificate chain or key file; anything larger is not PEM we should read


def read_pem(path: str | Path, field: str) -> bytes:
    """The bytes of the PEM file at ``path``; a clear error naming ``field`` when it is missing or not PEM."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_PEM:
            raise InvalidArgument(field, str(p), f"a PEM file is at most {MAX_PEM} bytes: point at the certificate or key")
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidArgument(field, str(p), f"cannot read it ({exc.strerror}): give the path of a PEM file") from None
    if b"-----BEGIN " not in data:
        raise InvalidArgument(field, str(p), "the file is not PEM (no -----BEGIN line): give a PEM certificate or key")
    return data


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate chain and key (PEM files, read and checked once); ``client_ca`` set: mutual TLS
    (every client must present a certificate signed by it)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    cert: bytes = field(default=b"", repr=False)
    key: bytes = field(default=b"", repr=False)
    client_ca: bytes = field(default=b"", repr=False)

    @classmethod
    def from_files(cls, cert: str | Path, key: str | Path, client_ca: str | Path | None = None) -> ServerTls:
        return cls(Path(cert), Path(key), Path(client_ca) if client_ca else None, read_pem(cert, "tls_cert"),
                   read_pem(key, "tls_key"), read_pem(client_ca, "tls_client_ca") if client_ca else b"")

    @property
    def mutual(self) -> bool:
        return bool(self.client_ca)

    def server_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` for an HTTP server: TLS 1.2 or later; client certificates required when mutual."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            raise InvalidArgument("tls_key", str(self.key_file),
                                  f"the key does not match the certificate or is encrypted ({exc.reason})") from None
        if self.mutual:
            ctx.load_verify_locations(cadata=self.client_ca.decode())
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


@dataclass(frozen=True)
class ClientTls:
    """PEM bytes a client uses: ``ca`` to trust (empty: the system's roots); ``cert``/``key`` for mutual TLS."""

    ca: bytes = b""
    cert: bytes = b""
    key: bytes = field(default=b"", repr=False)

    @classmethod
    def from_files(cls, ca: str | Path | None = None, cert: str | Path | None = None,
                   key: str | Path | None = None) -> ClientTls:
        if bool(cert) != bool(key):
            raise InvalidArgument("tls_client_cert" if key else "tls_client_key", str(cert or key),
                                  "give both the client certificate and its key, or neither")
        return cls(read_pem(ca, "tls_ca") if ca else b"", read_pem(cert, "tls_client_cert") if cert else b"",
                   read_pem(key, "tls_client_key") if key else b"")
