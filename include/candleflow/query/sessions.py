"""Trading sessions for the read side: which session a bar belongs to and which bars to expect.

Why a module of its own: resampling, fill and coverage must agree on one notion of a
session, or a resampled 1h bar, a filled gap and a coverage report would each place 09:30
differently. The rules (also in the ``candleflow.query`` docstring):

- An exchange in ``watchlist.EXCHANGE_CALENDARS`` trades in sessions of that
  ``exchange_calendars`` calendar (holidays and early closes included); any other exchange
  trades 24x7, its "session" being the UTC day.
- A bar's **session date**: for intraday bars, the exchange-local date of ``ts``; for bars of
  a day or longer, the exchange-local date of ``ts + 12h``, which is the right date whether a
  provider stamps daily bars at UTC midnight or at the session open.
- Intraday grids are anchored at the session open (09:30 New York for XNYS: 1h bars start
  09:30, 10:30, ...) and at UTC midnight for 24x7. A bar on a date that is no session (data
  on a holiday) is anchored at its local midnight.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from candleflow.domain import Timeframe
from candleflow.watchlist import EXCHANGE_CALENDARS

HALF_DAY = pd.Timedelta(hours=12)
CALENDAR_START = "1990-01-01"


@dataclass(frozen=True, slots=True)
class Market:
    """How one instrument trades: its exchange timezone and its calendar (None = 24x7)."""

    symbol: str
    timezone: str
    calendar: str | None

    @classmethod
    def of(cls, symbol: str, exchange: str, timezone: str) -> Market:
        calendar = EXCHANGE_CALENDARS.get(exchange)
        return cls(symbol, timezone if calendar else "UTC", calendar)


@functools.lru_cache(maxsize=8)
def _calendar(name: str):
    import exchange_calendars

    return exchange_calendars.get_calendar(name, start=CALENDAR_START)


def schedule(market: Market, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Sessions touching [start, end): index = session date, columns ``open``/``close`` (UTC)."""
    if market.calendar is None:
        days = pd.date_range(start.floor("D"), end.ceil("D"), freq="D", unit="us", tz="UTC")
        frame = pd.DataFrame({"open": days[:-1], "close": days[1:]})
        frame.index = pd.DatetimeIndex(days[:-1].tz_localize(None).normalize())
        return frame
    cal = _calendar(market.calendar)
    lo = max(pd.Timestamp(start.date()) - pd.Timedelta(days=1), cal.first_session)
    hi = min(pd.Timestamp(end.date()) + pd.Timedelta(days=1), cal.last_session)
    if lo > hi:
        return pd.DataFrame(
            {
                "open": pd.DatetimeIndex([], tz="UTC", dtype="datetime64[us, UTC]"),
                "close": pd.DatetimeIndex([], tz="UTC", dtype="datetime64[us, UTC]"),
            }
        )
    frame = cal.schedule.loc[lo:hi, ["open", "close"]].astype("datetime64[us, UTC]")
    return frame[(frame["close"] > start) & (frame["open"] < end)]


def session_dates(ts: pd.Series, market: Market, tf: Timeframe) -> pd.Series:
    """The session date (naive midnight) of each bar; see the module docstring."""
    shifted = ts if tf.intraday else ts + HALF_DAY
    return shifted.dt.tz_convert(market.timezone).dt.tz_localize(None).dt.normalize()


def anchors(ts: pd.Series, market: Market) -> pd.Series:
    """The grid anchor of each intraday bar: its session's open (or UTC/local midnight)."""
    dates = session_dates(ts, market, Timeframe.parse("1m"))
    if market.calendar is None:
        return ts.dt.floor("D")
    sched = schedule(market, ts.min(), ts.max() + pd.Timedelta(days=1))
    opens = dates.map(sched["open"])
    local_midnight = dates.dt.tz_localize(
        market.timezone, ambiguous="NaT", nonexistent="shift_forward"
    ).dt.tz_convert("UTC")
    return opens.fillna(local_midnight).astype("datetime64[us, UTC]")


def intraday_grid(
    market: Market, tf: Timeframe, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DatetimeIndex:
    """The intraday bar starts expected in [start, end): every session's buckets from its open."""
    step = pd.Timedelta(minutes=tf.minutes or 0)
    pieces = []
    for open_, close in schedule(market, start, end).itertuples(index=False):
        count = int(np.ceil((close - open_) / step))
        pieces.append(open_ + step * np.arange(count))
    if not pieces:
        return pd.DatetimeIndex([], tz="UTC", dtype="datetime64[us, UTC]")
    grid = pd.DatetimeIndex(np.concatenate(pieces)).astype("datetime64[us, UTC]")
    return grid[(grid >= start) & (grid + step <= end)]


def period_keys(dates: pd.Series | pd.DatetimeIndex, tf: Timeframe):
    """The bucket of each session date at 1d (itself), 1w (its Monday) or 1mo (month start)."""
    dates = pd.Series(dates)
    if tf.name == "1w":
        return dates - pd.to_timedelta(dates.dt.weekday, unit="D")
    if tf.name == "1mo":
        return dates.dt.to_period("M").dt.start_time
    return dates


def expected(
    market: Market, tf: Timeframe, start: dt.datetime, end: dt.datetime, now: pd.Timestamp
) -> pd.DataFrame:
    """The bars a complete series has in [start, end), ending by ``now``.

    Columns ``key`` (what a stored bar must match: ts for intraday, the session date / week /
    month otherwise) and ``start``/``end`` (the interval, for gap reporting).
    """
    start, end = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    end = min(end, now)
    if tf.intraday:
        grid = intraday_grid(market, tf, start, end)
        step = pd.Timedelta(minutes=tf.minutes or 0)
        return pd.DataFrame({"key": grid, "start": grid, "end": grid + step})
    margin = pd.Timedelta(days=35)  # whole weeks and months, to drop partial ones at the edges
    sched = schedule(market, start - margin, end + margin)
    frame = pd.DataFrame(
        {
            "key": period_keys(sched.index.to_series(), tf).to_numpy(),
            "start": sched["open"].to_numpy(),
            "end": sched["close"].to_numpy(),
        }
    )
    frame = frame.groupby("key", as_index=False, sort=True).agg(
        start=("start", "min"), end=("end", "max")
    )
    return frame[(frame["start"] >= start) & (frame["end"] <= end)].reset_index(drop=True)
