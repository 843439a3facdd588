"""Paging ``fetch_ohlcv`` over a window, and the candles as a bar frame.

Exchanges serve history forward from ``since``, at most ``limit`` candles a request (1,000
on Binance). Each page asks for no more candles than the rest of the window can hold, so a
short hourly window costs one small request and the last page of a backfill does not run
past the end; the next page starts one bar after the last candle received, until it
reaches the end or a page comes back empty. A short page is not taken as the end: some
exchanges cap pages below their documented limit, and stopping there would lose bars
silently (the price is one empty request when a window ends after the newest candle).
ccxt's open time is kept as ``ts``; trimming to ``[start, end)`` and dropping the forming
bar are the base class's job.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from candleflow.domain import UTC, Timeframe
from candleflow.errors import ProtocolError
from candleflow.frames import empty_bars

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

Call = Callable[[Callable[[Any], Any]], Any]  # runs fn(exchange) with retries


def page_ohlcv(
    call: Call,
    market_symbol: str,
    timeframe: str,
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    limit: int,
) -> tuple[list[list[Any]], int]:
    """Every candle from ``start`` until ``end`` (exclusive), and the number of requests."""
    end_ms = _ms(end)
    since = _ms(start)
    rows: list[list[Any]] = []
    pages = 0
    while since < end_ms:
        want = limit
        if tf.minutes is not None:
            want = max(1, min(limit, math.ceil((end_ms - since) / (tf.minutes * 60_000))))
        page = call(
            lambda ex, since=since, want=want: ex.fetch_ohlcv(
                market_symbol, timeframe, since=since, limit=want
            )
        )
        pages += 1
        if not page:
            break
        rows.extend(page)
        last = int(page[-1][0])
        after = _ms(tf.bar_end(dt.datetime.fromtimestamp(last / 1000, UTC)))
        if after <= since:
            raise ProtocolError(
                f"{market_symbol} {timeframe}: the exchange answered since={since} with candles "
                f"up to {last}; paging cannot advance"
            )
        since = after
    return rows, pages


def to_frame(rows: list[list[Any]]) -> pd.DataFrame:
    """ccxt candles ``[ms, open, high, low, close, volume]`` as a frame of ``BAR_COLUMNS``."""
    import numpy as np
    import pandas as pd

    if not rows:
        return empty_bars()
    if all(len(row) == 6 for row in rows):  # ccxt's unified shape: one flat pass, no copies
        flat = itertools.chain.from_iterable(rows)
        values = np.fromiter(flat, dtype="float64", count=6 * len(rows)).reshape(-1, 6)
    else:
        values = np.array([row[:6] for row in rows], dtype="float64")
    # a None (volume an exchange does not report) became NaN either way
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(values[:, 0].astype("int64"), unit="ms", utc=True),
            "open": values[:, 1],
            "high": values[:, 2],
            "low": values[:, 3],
            "close": values[:, 4],
            "volume": values[:, 5],
        }
    )


def _ms(ts: dt.datetime) -> int:
    return int(ts.timestamp() * 1000)
