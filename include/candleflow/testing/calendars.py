"""Bar grids for the replay server: which bars exist, where each starts and ends.

Two trading calendars cover every symbol the fake server knows: ``24x7`` (crypto, no gaps,
intraday grids aligned to the Unix epoch, weeks starting on Monday) and ``XNYS`` (the New
York Stock Exchange, 09:30-16:00 America/New_York with early closes, from
``exchange_calendars``). On XNYS an intraday grid restarts at each session open, so the last
bar of a session may be shorter (15:30-16:00 for 1h bars), and daily, weekly and monthly bars
are stamped at the session open (14:30 or 13:30 UTC), as TradingView does.

``XNYS_EXT`` is the extended-hours series of a US equity (what a resolve descriptor with
``"session": "extended"`` gets): each XNYS session opened at 04:00 New York (5.5 hours before
the regular open) and closed four hours after the regular close (20:00; 17:00 on an early
close), its intraday grid anchored at 04:00.

Everything is in integer Unix seconds so that the generator can stay vectorised.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Literal

import numpy as np

from candleflow.calendars import session_bounds
from candleflow.domain import Timeframe

CalendarName = Literal["24x7", "XNYS", "XNYS_EXT"]

CRYPTO_START = int(dt.datetime(2017, 1, 1, tzinfo=dt.UTC).timestamp())
XNYS_START = int(dt.datetime(2000, 1, 3, tzinfo=dt.UTC).timestamp())
_DAY = 86_400
_MONDAY = 4 * _DAY  # 1970-01-05 was the first Monday after the epoch
PRE_MARKET = 5 * 3600 + 1800  # 04:00 to 09:30 New York
POST_MARKET = 4 * 3600  # the regular close to 20:00 (to 17:00 after a 13:00 early close)


@functools.lru_cache(maxsize=1)
def xnys_sessions() -> tuple[np.ndarray, np.ndarray]:
    """Open and close (Unix seconds) of every XNYS session from 2000-01-03.

    From ``candleflow.calendars`` (the one calendar cache): built once per process.
    """
    opens, closes = session_bounds("XNYS")
    keep = opens >= XNYS_START * 1_000_000
    return opens[keep] // 1_000_000, closes[keep] // 1_000_000


def xnys_extended_sessions() -> tuple[np.ndarray, np.ndarray]:
    """Open and close (Unix seconds) of every XNYS session with its pre- and post-market."""
    opens, closes = xnys_sessions()
    return opens - PRE_MARKET, closes + POST_MARKET


def history_start(calendar: CalendarName) -> int:
    """The first second for which the synthetic history has bars."""
    return CRYPTO_START if calendar == "24x7" else XNYS_START


def _month_starts(lo: int, hi: int) -> np.ndarray:
    first = np.datetime64(lo, "s").astype("datetime64[M]")
    last = np.datetime64(hi, "s").astype("datetime64[M]") + 2
    return np.arange(first, last).astype("datetime64[s]").astype(np.int64)


def _grid_24x7(tf: Timeframe, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    if tf.minutes is None:
        edges = _month_starts(lo, hi)
        return edges[:-1], edges[1:]
    step = tf.minutes * 60
    anchor = _MONDAY if tf.name == "1w" else 0
    first = anchor + -(-(lo - anchor) // step) * step
    starts = np.arange(first, hi, step, dtype=np.int64)
    return starts, starts + step


def _group_sessions(
    opens: np.ndarray, closes: np.ndarray, keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First open and last close of each run of sessions sharing a key (week or month)."""
    boundary = np.flatnonzero(np.diff(keys)) + 1
    first = np.concatenate(([0], boundary))
    last = np.concatenate((boundary - 1, [len(keys) - 1]))
    return opens[first], closes[last]


def _grid_xnys(
    tf: Timeframe, lo: int, hi: int, *, extended: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    opens, closes = xnys_extended_sessions() if extended else xnys_sessions()
    pad = 40 * _DAY  # whole weeks or months around the window
    sel = slice(np.searchsorted(opens, lo - pad), np.searchsorted(opens, hi + pad))
    opens, closes = opens[sel], closes[sel]
    if len(opens) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if tf.name == "1d":
        return opens, closes
    if tf.name == "1w":
        return _group_sessions(opens, closes, (opens - _MONDAY) // (7 * _DAY))
    if tf.minutes is None:
        months = opens.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
        return _group_sessions(opens, closes, months)
    step = tf.minutes * 60
    counts = -(-(closes - opens) // step)
    session_of_bar = np.repeat(np.arange(len(opens)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    starts = opens[session_of_bar] + offset * step
    ends = np.minimum(starts + step, closes[session_of_bar])
    return starts, ends


def grid(calendar: CalendarName, tf: Timeframe, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (Unix seconds) of every bar whose start lies in ``[lo, hi)``.

    ``lo`` is clipped to the start of the synthetic history.
    """
    lo = max(lo, history_start(calendar))
    if hi <= lo:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if calendar == "24x7":
        starts, ends = _grid_24x7(tf, lo, hi)
    else:
        starts, ends = _grid_xnys(tf, lo, hi, extended=calendar == "XNYS_EXT")
    keep = (starts >= lo) & (starts < hi)
    return starts[keep], ends[keep]


def _typical_seconds_per_bar(calendar: CalendarName, tf: Timeframe) -> float:
    minutes = tf.minutes if tf.minutes is not None else 31 * 1440
    if calendar == "24x7" or not tf.intraday:
        return minutes * 60 * (1.0 if calendar == "24x7" else 1.5)
    bars_per_day = -(-(960 if calendar == "XNYS_EXT" else 390) // minutes)
    return _DAY * 1.5 / bars_per_day


def last_n(
    calendar: CalendarName, tf: Timeframe, before: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The newest ``n`` bars starting before ``before`` (fewer at the start of history)."""
    if n <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    span = int(_typical_seconds_per_bar(calendar, tf) * (n + 2)) + 10 * _DAY
    floor = history_start(calendar)
    while True:
        starts, ends = grid(calendar, tf, before - span, before)
        if len(starts) >= n or before - span <= floor:
            return starts[-n:], ends[-n:]
        span *= 2
