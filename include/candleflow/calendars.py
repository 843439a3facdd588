"""Exchange calendars: the one exchange -> calendar map, session parser and calendar cache.

Why one module: validation, timetables, resampling, coverage, freshness and the BarManager
must agree on when an instrument trades, or an ``LSE:`` bar is validated against London
sessions and then resampled and freshness-checked as if it traded 24x7 UTC. The rules:

- ``EXCHANGES`` maps a TradingView exchange prefix (the ``LSE`` of ``LSE:VOD``) to its
  ``exchange_calendars`` calendar, its regular TradingView session and its timezone. Any
  other prefix (crypto venues, FX) has no calendar: it trades 24x7 and its day is the UTC day.
- ``parse_session`` reads TradingView session strings (``0930-1600``, ``0930-1600:23456``,
  several segments separated by ``,`` or ``|``, overnight ``1700-1600``, ``24x7``).
- ``get_calendar`` builds each calendar once per process (0.1-0.2 s each; sessions from
  1990 to about a year ahead), and ``session_bounds`` gives its sessions as integer arrays
  for vectorised checks.
- ``Market`` + ``schedule``/``expected``: the sessions and bars a complete series has, used by
  the read side (``candleflow.query``) and by freshness (``candleflow.services``) alike.
- Sessions (``domain.SESSIONS``): a series is ``regular`` or ``extended``. An extended
  series (US equities' pre- and post-market, 04:00-20:00 New York) has its own sessions:
  each calendar session opened at the extended open and closed as long after the regular
  close as the post-market lasts, so an early close (13:00) ends its extended session at
  17:00, as the exchanges' post-market does.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from candleflow.domain import check_session

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from exchange_calendars import ExchangeCalendar

    from candleflow.domain import Timeframe

CALENDAR_START = "1990-01-02"
US_PER_MIN = 60_000_000


@dataclass(frozen=True, slots=True)
class Exchange:
    """An exchange that trades in sessions: its calendar, regular session and timezone."""

    calendar: str  # the exchange_calendars name
    session: str  # its regular session in TradingView notation
    timezone: str
    extended: str | None = None  # its extended session (pre + regular + post), if it has one

    def is_regular(self, session: str | None) -> bool:
        """True for an empty session or the regular one (day lists aside)."""
        return (session or "").strip().split(":")[0] in ("", self.session)


_XNYS = Exchange("XNYS", "0930-1600", "America/New_York", extended="0400-2000")
EXCHANGES: dict[str, Exchange] = {
    **dict.fromkeys(("NYSE", "NASDAQ", "AMEX", "ARCA", "NYSEARCA", "BATS", "SP", "TVC"), _XNYS),
    "LSE": Exchange("XLON", "0800-1630", "Europe/London"),
    "XETR": Exchange("XETR", "0900-1730", "Europe/Berlin"),
    "TSX": Exchange("XTSE", "0930-1600", "America/Toronto"),
}


def exchange_of(symbol: str) -> Exchange | None:
    """The ``Exchange`` of a symbol (``LSE:VOD``) or bare prefix (``LSE``); None = 24x7."""
    return EXCHANGES.get(symbol.partition(":")[0].strip().upper())


def extended_session(symbol: str) -> str:
    """The extended session string of ``symbol``'s exchange (``0400-2000`` for US equities).

    A market without pre- and post-market trading (crypto, LSE here) raises ``ValueError``:
    an extended series of it would only repeat the regular one under another key.
    """
    exchange = exchange_of(symbol)
    if exchange is None or exchange.extended is None:
        raise ValueError(
            f"{symbol} has no extended session; extended hours exist for US equities "
            "(NYSE, NASDAQ, AMEX, ARCA, BATS) only"
        )
    return exchange.extended


def has_extended(symbol: str) -> bool:
    """Whether ``symbol``'s market has an extended-hours series (``extended_session``)."""
    exchange = exchange_of(symbol)
    return exchange is not None and exchange.extended is not None


def _extended_shift(exchange: Exchange) -> tuple[int, int]:
    """Minutes the extended session opens before and closes after the regular one."""
    regular = parse_session(exchange.session)[0]
    extended = parse_session(exchange.extended)[0]
    return regular.opens - extended.opens, extended.closes - regular.closes


def calendar_name(symbol: str) -> str | None:
    """The ``exchange_calendars`` name for a symbol or exchange prefix; None = 24x7 UTC."""
    exchange = exchange_of(symbol)
    return exchange.calendar if exchange else None


# ----- session strings ----------------------------------------------------------------------

ALL_DAYS = frozenset(range(1, 8))
_SEGMENT = re.compile(r"^(\d{2})(\d{2})-(\d{2})(\d{2})(?::([1-7]+))?$")


@dataclass(frozen=True, slots=True)
class Segment:
    """One trading segment in exchange-local minutes of day, on TradingView days
    (1 = Sunday ... 7 = Saturday). A close at or before the open runs past midnight."""

    opens: int
    closes: int
    days: frozenset[int] = ALL_DAYS

    @property
    def length(self) -> int:
        """Minutes from open to close."""
        return (
            self.closes - self.opens
            if self.closes > self.opens
            else self.closes - self.opens + 1440
        )


WHOLE_DAY = (Segment(0, 1440),)


def is_24x7(session: str | None) -> bool:
    """True for TradingView's ``24x7`` session (crypto)."""
    return (session or "").strip().lower() == "24x7"


def parse_session(text: str | None) -> tuple[Segment, ...]:
    """``"0930-1600:23456"`` -> ``(Segment(570, 960, {2..6}),)``.

    ``24x7`` and an empty string are the whole day, every day. A bad segment raises
    ``ValueError`` naming it and the expected ``HHMM-HHMM[:days]`` form.
    """
    text = (text or "").strip()
    if text == "" or is_24x7(text):
        return WHOLE_DAY
    segments = []
    for part in re.split(r"[,|]", text):
        match = _SEGMENT.match(part.strip())
        if not match:
            raise ValueError(f"bad session segment {part!r} in {text!r}; expected HHMM-HHMM[:days]")
        h1, m1, h2, m2, days = match.groups()
        opens, closes = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
        if opens >= 1440 or closes > 1440:
            raise ValueError(f"bad session segment {part!r} in {text!r}; hours run 0000-2400")
        segments.append(Segment(opens, closes, frozenset(int(d) for d in (days or "1234567"))))
    return tuple(segments)


# ----- the calendar cache -------------------------------------------------------------------


@functools.cache
def get_calendar(name: str) -> ExchangeCalendar:
    """The ``exchange_calendars`` calendar ``name``, built once per process."""
    import exchange_calendars as xcals
    import pandas as pd

    if name not in xcals.get_calendar_names(include_aliases=True):
        raise ValueError(f"unknown exchange calendar {name!r}; expected e.g. XNYS, XLON, XETR")
    # exchange_calendars trips a pandas-3 deprecation warning inside its constructor.
    deprecation = getattr(pd.errors, "Pandas4Warning", FutureWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", deprecation)
        return xcals.get_calendar(name, start=CALENDAR_START)


@functools.cache
def session_bounds(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Open and close of every session of ``name`` as sorted UTC microseconds (int64)."""
    sched = get_calendar(name).schedule
    return tuple(  # type: ignore[return-value]
        sched[col].dt.tz_convert("UTC").dt.as_unit("us").astype("int64").to_numpy()
        for col in ("open", "close")
    )


# ----- markets: sessions and expected bars --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Market:
    """How one instrument trades: its exchange timezone and its calendar (None = 24x7)."""

    symbol: str
    timezone: str
    calendar: str | None
    # (pre, post) minutes of an extended series around each regular session; None: regular
    extended: tuple[int, int] | None = None

    @classmethod
    def of(
        cls,
        symbol: str,
        exchange: str | None = None,
        timezone: str | None = None,
        session: str | None = None,
    ) -> Market:
        """The market of ``symbol`` (its exchange prefix, unless ``exchange`` is given).

        A 24x7 market's day is the UTC day; a calendar market keeps the instrument's
        timezone, or the exchange's when the instrument has none. ``session="extended"``
        widens every session by the exchange's pre- and post-market.
        """
        known = exchange_of(exchange or symbol)
        if known is None:
            return cls(symbol, "UTC", None)
        shift = None
        if check_session(session) == "extended":
            extended_session(exchange or symbol)  # raises for a market without one
            shift = _extended_shift(known)
        return cls(symbol, timezone or known.timezone, known.calendar, shift)


def _empty_schedule() -> pd.DataFrame:
    import pandas as pd

    empty = pd.DatetimeIndex([], tz="UTC", dtype="datetime64[us, UTC]")
    return pd.DataFrame({"open": empty, "close": empty})


def schedule(market: Market, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Sessions touching [start, end): index = session date, columns ``open``/``close`` (UTC)."""
    import pandas as pd

    if market.calendar is None:
        days = pd.date_range(start.floor("D"), end.ceil("D"), freq="D", unit="us", tz="UTC")
        frame = pd.DataFrame({"open": days[:-1], "close": days[1:]})
        frame.index = pd.DatetimeIndex(days[:-1].tz_localize(None).normalize())
        return frame
    cal = get_calendar(market.calendar)
    lo = max(pd.Timestamp(start.date()) - pd.Timedelta(days=1), cal.first_session)
    hi = min(pd.Timestamp(end.date()) + pd.Timedelta(days=1), cal.last_session)
    if lo > hi:
        return _empty_schedule()
    frame = cal.schedule.loc[lo:hi, ["open", "close"]].astype("datetime64[us, UTC]")
    if market.extended is not None:
        pre, post = market.extended
        frame = frame.assign(
            open=frame["open"] - pd.Timedelta(minutes=pre),
            close=frame["close"] + pd.Timedelta(minutes=post),
        )
    return frame[(frame["close"] > start) & (frame["open"] < end)]


def intraday_grid(
    market: Market, tf: Timeframe, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DatetimeIndex:
    """The intraday bar starts expected in [start, end): every session's buckets from its open."""
    import numpy as np
    import pandas as pd

    step = pd.Timedelta(minutes=tf.minutes or 0)
    pieces = []
    for open_, close in schedule(market, start, end).itertuples(index=False):
        count = int(np.ceil((close - open_) / step))
        pieces.append(open_ + step * np.arange(count))
    if not pieces:
        return pd.DatetimeIndex([], tz="UTC", dtype="datetime64[us, UTC]")
    grid = pd.DatetimeIndex(np.concatenate(pieces)).astype("datetime64[us, UTC]")
    return grid[(grid >= start) & (grid + step <= end)]


def period_keys(dates: pd.Series | pd.DatetimeIndex, tf: Timeframe) -> pd.Series:
    """The bucket of each session date at 1d (itself), 1w (its Monday) or 1mo (month start)."""
    import pandas as pd

    dates = pd.Series(dates)
    if tf.name == "1w":
        return dates - pd.to_timedelta(dates.dt.weekday, unit="D")
    if tf.name == "1mo":
        return dates.dt.to_period("M").dt.start_time
    return dates


def expected(
    market: Market, tf: Timeframe, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> pd.DataFrame:
    """The bars a complete series has in [start, end), ending by ``now``.

    Columns ``key`` (what a stored bar must match: ts for intraday, the session date / week /
    month otherwise) and ``start``/``end`` (the interval, for gap reporting).
    """
    import pandas as pd

    start, end = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    end = min(end, pd.Timestamp(now))
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
