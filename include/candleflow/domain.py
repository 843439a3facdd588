"""Value types shared by providers, validation, the loader and the query module.

One vocabulary everywhere: an ``Instrument`` is identified by its ``symbol``
(``EXCHANGE:TICKER``); a bar's ``ts`` is its **start** in UTC and it covers
``[ts, ts + timeframe)``; a ``Tick`` is one quote or trade update.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

BAR_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
TICK_COLUMNS: tuple[str, ...] = ("ts", "price", "size", "day_volume", "bid", "ask")

UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar length in the project's notation (``1m`` ... ``1mo``) with its TradingView code."""

    name: str
    tv_resolution: str
    minutes: int | None  # None for the calendar month, which has no fixed length

    @classmethod
    def parse(cls, value: str | Timeframe) -> Timeframe:
        if isinstance(value, Timeframe):
            return value
        try:
            return TIMEFRAMES[value]
        except KeyError:
            raise ValueError(
                f"unknown timeframe {value!r}; expected one of {', '.join(TIMEFRAMES)}"
            ) from None

    @classmethod
    def from_resolution(cls, code: str) -> Timeframe:
        for tf in TIMEFRAMES.values():
            if tf.tv_resolution == code:
                return tf
        raise ValueError(f"unknown TradingView resolution {code!r}")

    @property
    def intraday(self) -> bool:
        return self.minutes is not None and self.minutes < 1440

    @property
    def delta(self) -> dt.timedelta:
        """The fixed length; a month is approximated by 31 days (only for window maths)."""
        return dt.timedelta(minutes=self.minutes if self.minutes is not None else 31 * 1440)

    def bar_end(self, ts: dt.datetime) -> dt.datetime:
        """The end of the bar that starts at ``ts`` (exclusive)."""
        if self.minutes is not None:
            return ts + dt.timedelta(minutes=self.minutes)
        year, month = (ts.year + 1, 1) if ts.month == 12 else (ts.year, ts.month + 1)
        return ts.replace(year=year, month=month)

    def __str__(self) -> str:
        return self.name


TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        Timeframe("1m", "1", 1),
        Timeframe("3m", "3", 3),
        Timeframe("5m", "5", 5),
        Timeframe("15m", "15", 15),
        Timeframe("30m", "30", 30),
        Timeframe("45m", "45", 45),
        Timeframe("1h", "60", 60),
        Timeframe("2h", "120", 120),
        Timeframe("3h", "180", 180),
        Timeframe("4h", "240", 240),
        Timeframe("1d", "1D", 1440),
        Timeframe("1w", "1W", 7 * 1440),
        Timeframe("1mo", "1M", None),
    )
}


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"NASDAQ:AAPL"`` -> ``("NASDAQ", "AAPL")``; a bad symbol raises ``ValueError``."""
    exchange, sep, ticker = symbol.partition(":")
    if not sep or not exchange or not ticker:
        raise ValueError(f"bad symbol {symbol!r}; expected EXCHANGE:TICKER, e.g. NASDAQ:AAPL")
    return exchange, ticker


@dataclass(frozen=True, slots=True)
class Instrument:
    """What a provider knows about a symbol; the ``instruments`` table mirrors it."""

    symbol: str
    description: str = ""
    type: str = ""
    currency: str = ""
    timezone: str = "Etc/UTC"
    session: str = "24x7"
    price_scale: int = 100
    provider: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def exchange(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def ticker(self) -> str:
        return split_symbol(self.symbol)[1]


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote update: the last trade price and its time, sizes and the top of book.

    ``seq`` orders ticks that share a timestamp; with ``ts`` and the symbol it is the tick key.
    """

    symbol: str
    ts: dt.datetime
    price: float | None
    size: float | None = None
    day_volume: float | None = None
    bid: float | None = None
    ask: float | None = None
    seq: int = 0
