"""Test and demo doubles: a TradingView-protocol replay server and its synthetic data.

``ReplayServer`` is the fake websocket server; ``bars`` is the oracle giving exactly the
bars the server sends for a seed, so tests of other components can compare against it.
"""

from __future__ import annotations

from candleflow.testing.replay_server import ReplayServer, ServerStats
from candleflow.testing.scenarios import SCENARIOS
from candleflow.testing.synthetic import bars

__all__ = ["SCENARIOS", "ReplayServer", "ServerStats", "bars"]
