"""Session-aware grid check: does each bar start where the provider's grid puts bars?

Why session-aware: TradingView restarts an intraday grid at every session open, so 1h bars
of an NYSE stock start at 09:30, 10:30, ..., 15:30 New York time (14:30 UTC in winter, 13:30
in summer) and a bar at 10:00 is off the grid. The rules, by the instrument's ``session``:

- ``24x7`` (crypto): intraday bars are aligned to UTC midnight (``ts % step == 0``).
- a session string (TradingView's ``0930-1600``, ``0930-1600:23456``, several segments
  separated by ``,`` or ``|``): the grid restarts at each segment's open in the instrument's
  timezone and a bar must start before that segment's close. When the exchange has an
  ``exchange_calendars`` calendar and the session is its regular one, the calendar's
  sessions are used instead, so holidays and early closes are exact.
- daily bars: ts at a session open, at midnight in the instrument timezone, or at UTC
  midnight (providers stamp dailies each of these ways; all three are the same day).
- weekly and monthly bars are not checked here (their anchors vary between providers).

An unparseable session string does not reject data: it is logged and the grid is aligned
to midnight in the instrument timezone.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from typing import TYPE_CHECKING

from candleflow.domain import Instrument, Timeframe
from candleflow.validation.rules import ts_micros

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

US_PER_MIN = 60_000_000
US_PER_DAY = 1440 * US_PER_MIN
# exchange prefix -> (exchange_calendars name, its regular TradingView session)
CALENDARS: dict[str, tuple[str, str]] = {
    **{ex: ("XNYS", "0930-1600") for ex in ("NYSE", "NASDAQ", "AMEX", "ARCA", "NYSEARCA")},
    "BATS": ("XNYS", "0930-1600"),
    "LSE": ("XLON", "0800-1630"),
    "XETR": ("XETR", "0900-1730"),
    "TSX": ("XTSE", "0930-1600"),
}
_SEGMENT = re.compile(r"^(\d{2})(\d{2})-(\d{2})(\d{2})(?::([1-7]+))?$")


def on_grid(ts: pd.Series, instrument: Instrument, tf: Timeframe) -> np.ndarray:
    """True where ``ts`` (UTC) lies on the instrument's grid for ``tf``; NaT counts as True."""
    import numpy as np

    ok = np.ones(len(ts), dtype=bool)
    has = ts.notna().to_numpy()
    if not has.any() or not (tf.intraday or tf.name == "1d"):
        return ok
    t = ts_micros(ts)[has]
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
    if session.lower() == "24x7":
        return None
    exchange = instrument.symbol.partition(":")[0].upper()
    calendar = CALENDARS.get(exchange)
    if calendar and session.split(":")[0] in ("", calendar[1]):
        lo_year, hi_year = _year(lo) - 1, _year(hi) + 1
        try:
            return _calendar_sessions(calendar[0], lo_year, hi_year)
        except ValueError as exc:  # exchange_calendars' DateOutOfBounds is a ValueError
            log.warning("calendar %s unusable for %s: %s", calendar[0], instrument.symbol, exc)
    try:
        segments = parse_session(session)
    except ValueError:
        log.warning(
            "unparseable session %r of %s: grid aligned to local midnight",
            session,
            instrument.symbol,
        )
        segments = [(0, 1440, frozenset(range(1, 8)))]
    return _string_sessions(segments, instrument.timezone, lo, hi)


def _year(us: int) -> int:
    import numpy as np

    return int(np.datetime64(us, "us").astype("datetime64[Y]").astype(int)) + 1970


def parse_session(text: str) -> list[tuple[int, int, frozenset[int]]]:
    """``"0930-1600:23456"`` -> ``[(570, 960, {2..6})]``: minutes of day and TradingView days.

    TradingView numbers days 1 (Sunday) to 7 (Saturday); without a day list every day counts.
    A close at or before the open means the segment runs past midnight.
    """
    segments = []
    for part in re.split(r"[,|]", text):
        match = _SEGMENT.match(part.strip())
        if not match:
            raise ValueError(f"bad session segment {part!r} in {text!r}; expected HHMM-HHMM[:days]")
        h1, m1, h2, m2, days = match.groups()
        opens, closes = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
        if opens >= 1440 or closes > 1440:
            raise ValueError(f"bad session segment {part!r} in {text!r}; hours run 0000-2400")
        segments.append((opens, closes, frozenset(int(d) for d in (days or "1234567"))))
    return segments


def _string_sessions(
    segments: list[tuple[int, int, frozenset[int]]], tz: str, lo: int, hi: int
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
    for start, stop, allowed in segments:
        chosen = days[np.isin(tv_day, sorted(allowed))]
        length = (stop - start) if stop > start else (stop - start + 1440)
        local = chosen + pd.Timedelta(minutes=start)
        utc = local.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        utc = utc[~utc.isna()]
        o = ts_micros(pd.Series(utc.as_unit("us")))
        opens.append(o)
        closes.append(o + length * US_PER_MIN)
    o, c = np.concatenate(opens), np.concatenate(closes)
    order = np.argsort(o, kind="stable")
    return o[order], c[order]


@functools.lru_cache(maxsize=16)
def _calendar_sessions(name: str, lo_year: int, hi_year: int) -> tuple[np.ndarray, np.ndarray]:
    """Opens and closes of a calendar's sessions; cached, building one takes ~0.3 s."""
    import exchange_calendars as xcals
    import pandas as pd

    # exchange_calendars trips a pandas-3 deprecation warning inside its constructor.
    deprecation = getattr(pd.errors, "Pandas4Warning", FutureWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", deprecation)
        cal = xcals.get_calendar(name, start=f"{lo_year}-01-01", end=f"{hi_year}-12-31")
    opens = ts_micros(cal.schedule["open"])
    closes = ts_micros(cal.schedule["close"])
    return opens, closes
