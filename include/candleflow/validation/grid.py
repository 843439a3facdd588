"""Session-aware grid check: does each bar start where the provider's grid puts bars?

Why session-aware: TradingView restarts an intraday grid at every session open, so 1h bars
of an NYSE stock start at 09:30, 10:30, ..., 15:30 New York time (14:30 UTC in winter, 13:30
in summer) and a bar at 10:00 is off the grid. The rules, by the instrument's ``session``:

- ``24x7`` (crypto): intraday bars are aligned to UTC midnight (``ts % step == 0``).
- a session string (TradingView's ``0930-1600``, ``0930-1600:23456``, several segments
  separated by ``,`` or ``|``; read by ``candleflow.calendars.parse_session``): the grid
  restarts at each segment's open in the instrument's timezone and a bar must start before
  that segment's close. When the exchange has a calendar in ``candleflow.calendars`` and
  the session is its regular one (or empty), the calendar's sessions are used instead, so
  holidays and early closes are exact.
- daily bars: ts at a session open, at midnight in the instrument timezone, or at UTC
  midnight (providers stamp dailies each of these ways; all three are the same day).
- weekly and monthly bars are not checked here (their anchors vary between providers).

An unparseable session string does not reject data: it is logged and the grid is aligned
to midnight in the instrument timezone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from candleflow import calendars
from candleflow.domain import Instrument, Timeframe
from candleflow.frames import NAT, US_PER_MIN, ts_micros

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

US_PER_DAY = 1440 * US_PER_MIN


def on_grid(ts: pd.Series, instrument: Instrument, tf: Timeframe) -> np.ndarray:
    """True where ``ts`` (UTC) lies on the instrument's grid for ``tf``; NaT counts as True."""
    import numpy as np

    ok = np.ones(len(ts), dtype=bool)
    if not (tf.intraday or tf.name == "1d"):
        return ok
    micros = ts_micros(ts)
    has = micros != NAT
    if not has.any():
        return ok
    t = micros[has]
    if tf.intraday:
        ok[has] = _intraday(t, instrument, tf.minutes * US_PER_MIN)
    else:
        ok[has] = _daily(ts[has], t, instrument)
    return ok


def _intraday(t: np.ndarray, instrument: Instrument, step: int) -> np.ndarray:
    import numpy as np

    sessions = _sessions(instrument, int(t.min()), int(t.max()))
    if sessions is None:
        return t % step == 0
    opens, closes = sessions
    idx = np.searchsorted(opens, t, side="right") - 1
    inside = idx >= 0
    idx = np.clip(idx, 0, None)
    if len(opens) == 0:
        return np.zeros(len(t), dtype=bool)
    return inside & (t < closes[idx]) & ((t - opens[idx]) % step == 0)


def _daily(ts: pd.Series, t: np.ndarray, instrument: Instrument) -> np.ndarray:
    import numpy as np

    local = ts_micros(
        ts.dt.tz_convert(instrument.timezone).dt.tz_localize(None).dt.tz_localize("UTC")
    )
    ok = (t % US_PER_DAY == 0) | (local % US_PER_DAY == 0)
    sessions = _sessions(instrument, int(t.min()), int(t.max()))
    if sessions is not None and len(sessions[0]):
        opens = sessions[0]
        idx = np.clip(np.searchsorted(opens, t), 0, len(opens) - 1)
        ok |= opens[idx] == t
    return ok


def _sessions(instrument: Instrument, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted session opens and closes (UTC microseconds) around ``[lo, hi]``; None = 24x7."""
    session = (instrument.session or "").strip()
    if calendars.is_24x7(session):
        return None
    exchange = calendars.exchange_of(instrument.symbol)
    if exchange and exchange.is_regular(session):
        opens, closes = calendars.session_bounds(exchange.calendar)
        if len(opens) and opens[0] <= lo and hi < closes[-1]:
            return opens, closes
        # outside the calendar's years (it starts in 1990): the regular session, no holidays
        session = exchange.session
    try:
        segments = calendars.parse_session(session)
    except ValueError:
        log.warning(
            "unparseable session %r of %s: grid aligned to local midnight",
            session,
            instrument.symbol,
        )
        segments = calendars.WHOLE_DAY
    return _string_sessions(segments, instrument.timezone, lo, hi)


def _string_sessions(
    segments: tuple[calendars.Segment, ...], tz: str, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    import pandas as pd

    days = pd.date_range(
        pd.Timestamp(lo - 2 * US_PER_DAY, unit="us").normalize(),
        pd.Timestamp(hi + 2 * US_PER_DAY, unit="us").normalize(),
        freq="D",
    )
    tv_day = (days.dayofweek.to_numpy() + 1) % 7 + 1  # Monday (0) -> 2, Sunday (6) -> 1
    opens, closes = [], []
    for segment in segments:
        chosen = days[np.isin(tv_day, sorted(segment.days))]
        local = chosen + pd.Timedelta(minutes=segment.opens)
        utc = local.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        utc = utc[~utc.isna()]
        o = ts_micros(pd.Series(utc.as_unit("us")))
        opens.append(o)
        closes.append(o + segment.length * US_PER_MIN)
    o, c = np.concatenate(opens), np.concatenate(closes)
    order = np.argsort(o, kind="stable")
    return o[order], c[order]
