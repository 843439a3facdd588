"""When a bar closes: the one rule the load path, the fetch and validation share.

Why a module of its own: "the bars that closed in ``(start, end]``" (``services.window``),
"a bar still forming is never returned" (``providers.base.fetch_bars``) and "no bar from the
future" (``validation.rules``) must agree on one bar end, or ``candleflow fetch`` prints a
session that ``candleflow sync`` of the same window does not store.

The rule:

- an intraday bar ends one bar length after it starts;
- a daily, weekly or monthly bar of an instrument that trades in sessions (its exchange has a
  calendar in ``candleflow.calendars``) ends at the **close of the last session it holds**:
  a daily NVDA bar of 2026-11-30 ends at 21:00 UTC that day (16:00 New York), the session of
  the day after Thanksgiving at its early close (13:00 New York), a weekly bar at Friday's
  close, a monthly bar at the close of the month's last session. Its session date is the
  exchange-local date of ``ts + 12h`` (as the read side's ``query.sessions`` has it), right
  whether a provider stamps dailies at the session open, local midnight or UTC midnight;
  week and month are that date's Monday and month (``calendars.period_keys``);
- any other bar (24x7 markets, a date that is no session, a date outside the calendar's
  years) ends one bar length later, the calendar month for ``1mo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from candleflow.calendars import Market
    from candleflow.domain import Timeframe

US_PER_MIN = 60_000_000
HALF_DAY_US = 720 * US_PER_MIN
NAT = -(2**63)  # numpy's NaT as int64 microseconds


def bar_ends(ts: np.ndarray, tf: Timeframe, market: Market | None = None) -> np.ndarray:
    """The end (int64 UTC microseconds) of each bar starting at ``ts`` (int64 µs); ``NAT``
    where ``ts`` is ``NAT`` (a row without a timestamp has no end)."""
    import numpy as np

    ts = np.asarray(ts, dtype="int64")
    has = ts != NAT
    if has.all():  # the usual case: no copy through a mask
        return _ends(ts, tf, market)
    ends = np.full(len(ts), NAT, dtype="int64")
    ends[has] = _ends(ts[has], tf, market)
    return ends


def _ends(ts: np.ndarray, tf: Timeframe, market: Market | None) -> np.ndarray:
    import numpy as np

    if tf.intraday:
        return ts + tf.minutes * US_PER_MIN
    plain = _plain_ends(ts, tf)
    if market is None or market.calendar is None or len(ts) == 0:
        return plain
    dates, closes = _session_closes(market.calendar)
    local = _local_dates(ts + HALF_DAY_US, market.timezone)
    keys, session_keys = _period(local, tf), _period(dates, tf)
    idx = np.searchsorted(session_keys, keys, side="right") - 1
    found = (idx >= 0) & (session_keys[np.clip(idx, 0, None)] == keys)
    return np.where(found, closes[np.clip(idx, 0, None)], plain)


def _plain_ends(ts: np.ndarray, tf: Timeframe) -> np.ndarray:
    """One bar length later; for ``1mo`` the same instant of the next calendar month."""
    import numpy as np

    if tf.minutes is not None:
        return ts + tf.minutes * US_PER_MIN
    stamps = ts.astype("datetime64[us]")
    month = stamps.astype("datetime64[M]")
    offset = stamps - month.astype("datetime64[us]")
    return ((month + 1).astype("datetime64[us]") + offset).astype(np.int64)


def _session_closes(calendar: str) -> tuple[np.ndarray, np.ndarray]:
    """Session dates (``datetime64[D]``) and closes (µs) of ``calendar``, sorted."""
    from candleflow.calendars import get_calendar, session_bounds

    _, closes = session_bounds(calendar)
    dates = get_calendar(calendar).schedule.index.to_numpy().astype("datetime64[D]")
    return dates, closes


def _local_dates(ts: np.ndarray, timezone: str) -> np.ndarray:
    """The exchange-local calendar date (``datetime64[D]``) of each UTC µs instant."""
    import pandas as pd

    local = pd.DatetimeIndex(ts.astype("datetime64[us]")).tz_localize("UTC").tz_convert(timezone)
    return local.tz_localize(None).to_numpy().astype("datetime64[D]")


def _period(dates: np.ndarray, tf: Timeframe) -> np.ndarray:
    """The bucket of each date: itself (1d), its Monday (1w) or its month's first day (1mo)."""
    import numpy as np

    if tf.name == "1w":
        days = dates.astype("int64")
        return (days - (days + 3) % 7).astype("datetime64[D]")  # 1970-01-01 was a Thursday
    if tf.name == "1mo":
        return dates.astype("datetime64[M]").astype("datetime64[D]")
    return dates.astype("datetime64[D]") if np.issubdtype(dates.dtype, np.datetime64) else dates
