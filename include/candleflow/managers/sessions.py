"""Trading sessions for rolled-up bars: which minutes make a bar, and where its grid starts.

A daily rolled-up bar follows the instrument's exchange (``instruments.timezone`` and
``instruments.session``), not UTC midnight:

- ``24x7`` (crypto, the default) or a session we cannot parse: the local calendar day,
  stamped at local midnight (``Etc/UTC`` gives the usual 00:00 UTC bars).
- ``HHMM-HHMM`` (TradingView's notation, e.g. ``0930-1600`` for XNYS; an optional
  ``:1234567`` day list and further ``,``- or ``|``-separated ranges are allowed): the bars from the
  first open to the last close, stamped **at the session open** (13:30 or 14:30 UTC for
  XNYS, following daylight saving). Pre- and post-market bars stay in the 1m..1h bars but
  are not part of the daily bar, which is what the exchange's official daily OHLC covers.
  An overnight session (``1700-1600``, futures) is stamped at its evening open.

The same rule is used when a 1m bar marks its day dirty and when the day is taken to be
built (``candleflow.db.rollup_state``), in SQL, from the offsets computed here.

Intraday bars of an instrument whose exchange trades in sessions (``calendars.EXCHANGES``:
XNYS for ``AMEX:SPY``) follow the grid its provider uses and validation checks:

- ``session_grid``: buckets anchored at the regular session open in the exchange's timezone
  (XNYS 1h bars at 09:30, 10:30, ... New York time, 13:30/14:30 UTC), not at the UTC hour;
  other instruments (crypto, FX, unknown prefixes) keep the UTC grid, anchored at midnight.
- ``regular_sessions``: the exchange calendar's sessions (holidays, early closes). A minute
  outside them (pre- and post-market trades, a trade on a holiday) gets no rolled-up bar: it
  stays in ``ticks``, not in the regular-session series, for an extended-hours series to use.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from candleflow import calendars
from candleflow.calendars import Market

log = logging.getLogger(__name__)

DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """A day bucket in local time: it opens ``open_offset`` after local midnight and lasts
    ``length``; bars outside ``[open, open + length)`` belong to no daily bar."""

    timezone: str
    open_offset: dt.timedelta
    length: dt.timedelta


def daily_session(session: str | None, timezone: str) -> SessionSpec:
    """The ``SessionSpec`` of an ``instruments.session`` string (see module docstring).

    The string is read by ``candleflow.calendars.parse_session``; the day bucket runs from
    the first segment's open to the last segment's close.
    """
    try:
        segments = calendars.parse_session(session)
    except ValueError:
        log.warning("session %r not understood; daily bars use the whole local day", session)
        segments = calendars.WHOLE_DAY
    first, last = segments[0], segments[-1]
    opens = dt.timedelta(minutes=first.opens)
    length = dt.timedelta(minutes=last.closes) - opens
    if length <= dt.timedelta(0):
        length += DAY  # overnight: opens in the evening, closes the next day
    return SessionSpec(timezone, opens, length)


@dataclass(frozen=True, slots=True)
class SessionGrid:
    """Intraday buckets of a session market: ``origin`` after local midnight, in ``timezone``
    (every intraday timeframe divides a day, so one origin serves every day)."""

    timezone: str
    origin: dt.timedelta


def session_grid(market: Market) -> SessionGrid | None:
    """The grid of ``market``'s intraday bars; None for a 24x7 market (the UTC grid)."""
    if market.calendar is None:
        return None
    exchange = next(e for e in calendars.EXCHANGES.values() if e.calendar == market.calendar)
    opens = calendars.parse_session(exchange.session)[0].opens
    return SessionGrid(market.timezone, dt.timedelta(minutes=opens))


def regular_sessions(market: Market, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    """``(open, close)`` in UTC of every regular session of ``market`` touching [start, end)."""
    import pandas as pd

    frame = calendars.schedule(market, pd.Timestamp(start), pd.Timestamp(end))
    return [(o.to_pydatetime(), c.to_pydatetime()) for o, c in frame.itertuples(index=False)]
