"""Fixtures of the e2e tier: the browser the chart page and the Connections form run in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's ``chromium``; without it the test skips, or fails under CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: run `apt-get install -y chromium` (Debian's package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM
