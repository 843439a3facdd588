"""Test and demo doubles: a TradingView-protocol replay server and its synthetic data.

``ReplayServer`` is the fake websocket server; ``bars`` is the oracle giving exactly the
bars the server sends for a seed, so tests of other components can compare against it.
Names are imported lazily so that ``candleflow --help`` does not pay for numpy and the
exchange calendars.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ReplayServer": "candleflow.testing.replay_server",
    "ServerStats": "candleflow.testing.replay_state",
    "SCENARIOS": "candleflow.testing.scenarios",
    "bars": "candleflow.testing.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'candleflow.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
