"""Trading sessions for the read side: which session a bar belongs to and where its grid starts.

Why a module of its own: resampling, fill and coverage must agree on one notion of a
session, or a resampled 1h bar, a filled gap and a coverage report would each place 09:30
differently. Which exchange trades on which calendar, and which bars a complete series has,
live in ``candleflow.calendars`` (re-exported here); this module adds what only reads need:

- A bar's **session date**: for intraday bars, the exchange-local date of ``ts``; for bars of
  a day or longer, the exchange-local date of ``ts + 12h``, which is the right date whether a
  provider stamps daily bars at UTC midnight or at the session open.
- Intraday grids are anchored at the session open (09:30 New York for XNYS: 1h bars start
  09:30, 10:30, ...; 08:00 London for XLON) and at UTC midnight for 24x7. A bar on a date
  that is no session (data on a holiday) is anchored at its local midnight.
"""

from __future__ import annotations

import pandas as pd

from candleflow.calendars import Market, expected, intraday_grid, period_keys, schedule
from candleflow.domain import Timeframe

__all__ = [
    "Market",
    "anchors",
    "expected",
    "intraday_grid",
    "period_keys",
    "schedule",
    "session_dates",
]

HALF_DAY = pd.Timedelta(hours=12)


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
