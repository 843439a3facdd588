"""Access to the real fixtures in ``../shared/data`` (outside the repository, never copied in).

Tests that need them call ``shared_data(relpath)``: when the folder is absent the test is
skipped on a developer machine, but fails under ``CI=true`` so that a CI job without the
data cannot pass silently. ``CANDLEFLOW_SHARED_DATA`` points somewhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"


def data_root() -> Path:
    override = os.environ.get("CANDLEFLOW_SHARED_DATA")
    return Path(override) if override else DEFAULT_ROOT


def shared_data(relpath: str) -> Path:
    """The path of a shared fixture; skips (or fails under CI=true) when it is missing."""
    path = data_root() / relpath
    if path.exists():
        return path
    message = f"shared test data {path} is missing (set CANDLEFLOW_SHARED_DATA)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
