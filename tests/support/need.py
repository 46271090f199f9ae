"""Skip-or-fail for missing tools: locally a missing server or tool skips its tests; under CI=true it fails."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, how: str) -> None:
    """Call when ``what`` is unavailable: fails under CI=true, skips otherwise. ``how`` says how to get it."""
    message = f"{what} is not available ({how})"
    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)
