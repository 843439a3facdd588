"""The plan's lookback: whether a fetch's window may reach past the bars TradingView serves.

TradingView serves only the newest N bars of a series, N set by the account's plan
(``PLAN_BARS``; ``plan="basic"``, the free plan's 5,000, unless told otherwise) and
``max_bars`` overrides N (``plan="unlimited"``: no limit, for servers without one). A fetch
whose window reaches back past what N bars could possibly span, and whose reply does not
reach the window's start (empty, or starting late), probes the server (one count paging of N
bars, once per series and bar length) and the provider sets
``frame.attrs["reachable_start"]``, the UTC start of the oldest bar it serves for that series
(or of an older bar the fetch received), so an unreachable window is audited
``out_of_window`` by default instead of a ``success`` with nothing fetched. It is absent when
the window is within reach (no probe, no cost).

Why apart from the provider: this is the one piece of policy about what a plan can reach;
the provider only wires it to its socket and retry loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

from candleflow import calendars
from candleflow.calendars import Market
from candleflow.domain import Timeframe
from candleflow.providers.tradingview.client import Connection
from candleflow.providers.tradingview.history import oldest_reachable

# Bars per series each plan's charts reach back (TradingView's plan comparison page);
# "unlimited" turns the lookback off.
PLAN_BARS: dict[str, int | None] = {
    "basic": 5_000,
    "essential": 10_000,
    "plus": 10_000,
    "premium": 20_000,
    "expert": 25_000,
    "ultimate": 40_000,
    "unlimited": None,
}
Plan = Literal["basic", "essential", "plus", "premium", "expert", "ultimate", "unlimited"]


class Lookback:
    """The newest ``max_bars`` bars a series serves (``None``: no limit), and the probes'
    answers, each kept for one bar length, after which the lookback has moved on."""

    def __init__(self, max_bars: int | None) -> None:
        self.max_bars = max_bars
        self._reach: dict[tuple[str, str], tuple[float | None, float]] = {}

    def reachable(
        self,
        connect: Callable[[], Connection],
        symbol: str,
        tf: Timeframe,
        start: dt.datetime,
        now: dt.datetime,
        *,
        page_size: int,
        session: str,
    ) -> float | None:
        """The lookback's oldest bar (Unix seconds) when the window may reach past it.

        ``max_bars`` bars span at least ``max_bars - 1`` bar lengths (half of one for daily
        and longer bars, whose starts can be closer: a holiday Monday, a DST change), so a
        window starting after that horizon is within reach and costs no probe; only a probe
        asks ``connect`` for the socket.
        """
        if self.max_bars is None:
            return None
        step = tf.delta.total_seconds()
        key, t_now = (symbol, tf.name), now.timestamp()
        cached = self._reach.get(key)
        if cached is not None and t_now - cached[1] < step:
            return cached[0]
        horizon = t_now - (self.max_bars - 1) * step * (1.0 if tf.intraday else 0.5)
        if start.timestamp() >= horizon:
            return None
        value = oldest_reachable(
            connect(), symbol, tf, self.max_bars, page_size=page_size, session=session
        )
        self._reach[key] = (value, t_now)
        return value


def reaches_start(symbol: str, tf: Timeframe, start: dt.datetime, held: float | None) -> bool:
    """Whether the bars received (the oldest starts at ``held``, Unix s) begin where the
    window's first bar can (the first session's open at or after ``start``): then the window
    is within reach and needs no probe."""
    if held is None:
        return False
    import pandas as pd

    first = pd.Timestamp(start)
    market = Market.of(symbol)
    if market.calendar is not None:
        sessions = calendars.schedule(market, first, first + pd.Timedelta(days=10))
        if len(sessions):
            first = max(first, sessions["open"].iloc[0])
    return held <= first.timestamp() + tf.delta.total_seconds()
