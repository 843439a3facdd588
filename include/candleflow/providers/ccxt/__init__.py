"""Crypto exchanges through ccxt: exchange instances and configuration (``exchange``),
timeframes (``timeframes``), candle paging (``bars``), markets, resolution and search
(``markets``) and retries (``retry``). ``provider`` holds the ``IDataProvider``.
"""

from __future__ import annotations

from candleflow.providers.ccxt.provider import CcxtProvider

__all__ = ["CcxtProvider"]
