"""Content-addressed blob stores: a local directory (embedded default) or an S3 API (scaled out).

``open_blob_store(url)`` picks the adapter from a URL:

- ``/some/dir``, ``relative/dir`` or ``file:///some/dir``: ``LocalBlobStore``
- ``s3://bucket/prefix?endpoint=host:port&secure=false&region=us-east-1``: ``S3BlobStore``
  (``endpoint`` defaults to s3.amazonaws.com, ``secure`` to true). Credentials never go in the URL:
  pass ``access_key``/``secret_key``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from multiverse.blobs.base import CHUNK, BlobStore
from multiverse.blobs.local import LocalBlobStore
from multiverse.blobs.s3 import S3BlobStore
from multiverse.errors import InvalidArgument

__all__ = ["CHUNK", "BlobStore", "LocalBlobStore", "S3BlobStore", "open_blob_store"]

_S3_PARAMS = ("endpoint", "secure", "region")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_FORMS = "a directory path, file:///dir or s3://bucket/prefix?endpoint=host:port&secure=false"


def open_blob_store(url: str, *, access_key: str | None = None, secret_key: str | None = None) -> BlobStore:
    """The blob store that ``url`` names (see the module docstring). Opening does no network I/O."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument("url", url, f"pass {_FORMS}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "" or (len(scheme) == 1 and url[1:2] == ":"):  # a path (or a Windows drive letter)
        return LocalBlobStore(Path(url))
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise InvalidArgument(
                "url", _redact(url), "write file:///absolute/dir (three slashes) or a plain path"
            )
        return LocalBlobStore(Path(unquote(parts.path)))
    if scheme == "s3":
        return _open_s3(url, access_key, secret_key)
    raise InvalidArgument("url", _redact(url), f"unknown scheme {scheme!r}: pass {_FORMS}")


def _open_s3(url: str, access_key: str | None, secret_key: str | None) -> S3BlobStore:
    parts = urlsplit(url)
    shown = _redact(url)
    if "@" in parts.netloc:
        raise InvalidArgument(
            "url", shown, "do not put credentials in the URL: pass access_key and secret_key separately"
        )
    if not parts.netloc:
        raise InvalidArgument("url", shown, "name the bucket: s3://bucket/prefix?endpoint=host:port")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _S3_PARAMS:
            raise InvalidArgument(
                "url",
                shown,
                f"unknown parameter {key!r}: use {', '.join(_S3_PARAMS)}"
                + (
                    "; credentials go in access_key/secret_key, not in the URL"
                    if "key" in key.lower()
                    else ""
                ),
            )
        if key in params:
            raise InvalidArgument("url", shown, f"give the parameter {key!r} once")
        params[key] = value
    secure_text = params.get("secure", "true").lower()
    if secure_text not in _TRUE + _FALSE:
        raise InvalidArgument("url", shown, f"secure={params['secure']!r}: use secure=true or secure=false")
    if (access_key is None) != (secret_key is None):
        raise InvalidArgument(
            "secret_key" if secret_key is None else "access_key",
            "(not set)",
            "pass both access_key and secret_key, or neither for anonymous access",
        )
    return S3BlobStore(
        params.get("endpoint") or "s3.amazonaws.com",
        parts.netloc,
        unquote(parts.path),
        access_key=access_key,
        secret_key=secret_key,
        secure=secure_text in _TRUE,
        region=params.get("region") or None,
    )


def _redact(url: str) -> str:
    """``url`` safe to show: user info and the values of unknown query parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = "&".join(
        f"{key}={value if key in _S3_PARAMS else '***'}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
