"""TradingView: the websocket client (``client``), its framing (``protocol``), chart-session
history (``history``, ``bars``), the shared socket (``link``), the plan's lookback
(``lookback``), quote ticks (``quotes``), symbol search (``search``), retry
timings (``retry``) and the capture decoder (``decode``). ``provider`` holds the
``IDataProvider`` that ties them together.
"""

from __future__ import annotations

from candleflow.providers.tradingview.provider import TradingViewProvider

__all__ = ["TradingViewProvider"]
