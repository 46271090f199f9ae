"""One live gateway (tests/http/stack.py) shared by the HTTP tests of this folder that only read."""

from __future__ import annotations

import httpx
import pytest

from tests.http.stack import serve_gallery


@pytest.fixture(scope="package")
def gallery(tmp_path_factory):
    with serve_gallery(tmp_path_factory.mktemp("gallery")) as g:
        yield g


@pytest.fixture
def http(gallery):
    with httpx.Client(base_url=gallery.url, timeout=30) as client:
        yield client
