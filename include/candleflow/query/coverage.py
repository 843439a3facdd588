"""Coverage of a stored series against its exchange calendar (``candleflow.query.coverage``).

Why it matters: "is my history complete?" is the first question before a backtest, and a
plain count cannot answer it for a session market (nights, weekends, holidays and early
closes are not holes). The expected bars come from ``candleflow.calendars``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from candleflow.calendars import Market, expected, schedule
from candleflow.domain import Timeframe
from candleflow.query.resample import bar_keys


@dataclass(frozen=True)
class Coverage:
    """What is stored of one series in a window, and what is missing."""

    symbol: str
    timeframe: str
    start: dt.datetime
    end: dt.datetime
    first: dt.datetime | None  # first and last stored bar in the window
    last: dt.datetime | None
    bars: int  # stored bars in the window (on the grid or not)
    expected: int  # bars the calendar expects (intervals that ended by now)
    present: int  # expected bars that are stored
    gaps: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def complete(self) -> bool:
        return self.present == self.expected


class LimitExceeded(ValueError):
    """A request would do more work than its caller allows; the message names the bound.
    Handled by the caller: the API answers 422 naming the limit."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def expected_count(market: Market, tf: Timeframe, start: dt.datetime, end: dt.datetime) -> int:
    """How many bars a complete series has in [start, end), counted from the session
    schedule without building the grid (cheap even for a century of 1m)."""
    lo, hi = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    if not tf.intraday:
        return int(-(-(hi - lo) // tf.delta))  # at most one bar per day, week or month
    step = pd.Timedelta(minutes=tf.minutes or 0)
    if market.calendar is None:
        return int((hi - lo) // step)
    sched = schedule(market, lo, hi)
    spans = (sched["close"].clip(upper=hi) - sched["open"].clip(lower=lo)) / step
    return int(np.ceil(spans[spans > 0]).sum())


def _gaps(grid: pd.DataFrame) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) of each run of consecutive missing expected bars."""
    missing = grid[~grid["present"]]
    if missing.empty:
        return []
    runs = grid["present"].ne(grid["present"].shift()).cumsum()[~grid["present"]]
    spans = missing.groupby(runs.to_numpy()).agg(start=("start", "min"), end=("end", "max"))
    return [(a.to_pydatetime(), b.to_pydatetime()) for a, b in spans.itertuples(index=False)]


def coverage_of(
    frame: pd.DataFrame, market: Market, tf: Timeframe, start: dt.datetime, end: dt.datetime
) -> Coverage:
    """Compare the stored bars ``frame`` (ts-ordered) with the expected grid."""
    now = pd.Timestamp.now(tz="UTC")
    grid = expected(market, tf, start, end, now).reset_index(drop=True)
    keys = set(bar_keys(frame, market, tf)) if not frame.empty else set()
    grid["present"] = grid["key"].isin(keys)
    first = frame["ts"].iloc[0].to_pydatetime() if not frame.empty else None
    last = frame["ts"].iloc[-1].to_pydatetime() if not frame.empty else None
    return Coverage(
        symbol=market.symbol,
        timeframe=tf.name,
        start=start,
        end=end,
        first=first,
        last=last,
        bars=len(frame),
        expected=len(grid),
        present=int(grid["present"].sum()),
        gaps=_gaps(grid),
    )
