"""What the browser tests share: Debian's Chromium, how it is started, where screenshots go.

The ``chromium`` fixture (``tests/e2e/conftest.py``) skips without the browser, except under
CI (``CI=true``), where a missing browser is a broken setup and fails.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots for a person to look at (``tests/artifacts``).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
