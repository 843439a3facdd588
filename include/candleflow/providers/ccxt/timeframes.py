"""Candleflow timeframes to ccxt's, refused clearly where the exchange has no such candles.

ccxt's unified names are the project's own except the month (``1M`` in ccxt, ``1mo`` here).
An exchange publishes the ones it serves in ``exchange.timeframes``; asking Binance for
``45m`` is refused here instead of being resampled behind the caller's back.
"""

from __future__ import annotations

from typing import Any

from candleflow.domain import TIMEFRAMES, Timeframe
from candleflow.errors import UnsupportedOperation

CCXT_NAMES = {"1mo": "1M"}


def ccxt_timeframe(exchange: Any, tf: Timeframe) -> str:
    """The ccxt timeframe for ``tf`` on ``exchange``; ``UnsupportedOperation`` if it has none."""
    name = CCXT_NAMES.get(tf.name, tf.name)
    offered = exchange.timeframes or {}
    if name not in offered:
        ours = {v: k for k, v in CCXT_NAMES.items()}
        usable = [ours.get(t, t) for t in offered if ours.get(t, t) in TIMEFRAMES]
        raise UnsupportedOperation(
            f"{exchange.id} has no {tf} candles; of the project's timeframes it offers "
            f"{', '.join(usable) or 'none'}"
        )
    return name


def page_limit(exchange: Any, market: dict[str, Any], override: int | None) -> int:
    """Candles per request: the option, else what ccxt's feature table says, else 500."""
    if override is not None:
        return override
    features = exchange.features or {}
    kind = market.get("type") or "spot"
    section = features.get(kind) or {}
    if kind in ("swap", "future"):  # nested by contract side
        section = section.get("linear" if market.get("linear") else "inverse") or {}
    limit = (section.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else 500
