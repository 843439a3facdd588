"""The watchlist: which symbols to load, at which timeframes, from which provider.

Read at DAG parse time (it is a small local TOML file, no I/O beyond that), so that one
OHLCV DAG per configured timeframe can be generated. ``CANDLEFLOW_WATCHLIST`` points at
another file; the default ships with the package.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from candleflow.domain import Timeframe, split_symbol

DEFAULT = Path(__file__).with_name("watchlist.toml")
ENV = "CANDLEFLOW_WATCHLIST"


@dataclass(frozen=True)
class TimeframeSchedule:
    timeframe: Timeframe
    every: dt.timedelta
    calendar: str | None = None


@dataclass(frozen=True)
class Watchlist:
    provider: str
    symbols: tuple[str, ...]
    timeframes: tuple[TimeframeSchedule, ...]
    reject_threshold: float = 0.05
    provider_options: dict = field(default_factory=dict)
    path: Path = DEFAULT


def _duration(text: str, *, where: str) -> dt.timedelta:
    tf = Timeframe.parse(text) if text in ("1m", "5m", "15m", "30m", "1h", "4h", "1d") else None
    if tf is None or tf.minutes is None:
        raise ValueError(f"{where}: bad interval {text!r}; expected e.g. 1m, 15m, 1h, 1d")
    return tf.delta


def load(path: str | Path | None = None) -> Watchlist:
    """Parse and check a watchlist; errors name the file and the bad entry."""
    path = Path(path or os.environ.get(ENV) or DEFAULT)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read watchlist {path}: {exc}") from None
    symbols = tuple(data.get("symbols", ()))
    for symbol in symbols:
        split_symbol(symbol)
    schedules = []
    for name, options in (data.get("timeframes") or {}).items():
        tf = Timeframe.parse(name)
        every = (
            _duration(options["every"], where=f"{path} [timeframes.{name}]")
            if "every" in options
            else tf.delta
        )
        schedules.append(TimeframeSchedule(tf, every, options.get("calendar")))
    threshold = float(data.get("reject_threshold", 0.05))
    if not 0 <= threshold <= 1:
        raise ValueError(f"{path}: reject_threshold must be within [0, 1], got {threshold}")
    return Watchlist(
        provider=data.get("provider", "tradingview"),
        symbols=symbols,
        timeframes=tuple(schedules),
        reject_threshold=threshold,
        provider_options=dict(data.get("provider_options", {})),
        path=path,
    )


def select(
    watchlist_symbols: list[str] | tuple[str, ...], requested: list[str] | None
) -> list[str]:
    """The symbols a run loads: all, or the requested subset (each must be on the list)."""
    if not requested:
        return list(watchlist_symbols)
    unknown = sorted(set(requested) - set(watchlist_symbols))
    if unknown:
        raise ValueError(f"symbols not on the watchlist: {', '.join(unknown)}")
    return [s for s in watchlist_symbols if s in set(requested)]


# Exchanges whose instruments trade in sessions, and the exchange_calendars name of each.
# Symbols of other exchanges (crypto venues) are taken to trade 24x7.
EXCHANGE_CALENDARS: dict[str, str] = {
    "NASDAQ": "XNYS",
    "NYSE": "XNYS",
    "AMEX": "XNYS",
    "ARCA": "XNYS",
    "BATS": "XNYS",
    "SP": "XNYS",
    "TVC": "XNYS",
}
SETTLE_GRACE = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class DagSpec:
    """One generated OHLCV DAG: its id, timeframe, symbols and how it is scheduled."""

    dag_id: str
    timeframe: Timeframe
    symbols: tuple[str, ...]
    every: dt.timedelta
    settle: dt.timedelta
    calendar: str | None


def dag_specs(watchlist: Watchlist) -> list[DagSpec]:
    """``ohlcv_<tf>`` per timeframe; a calendar timeframe splits off ``ohlcv_<tf>_24x7``
    for the symbols that do not trade on that calendar."""
    specs = []
    for sched in watchlist.timeframes:
        tf, settle = sched.timeframe, sched.timeframe.delta + SETTLE_GRACE
        if sched.calendar is None:
            specs.append(DagSpec(f"ohlcv_{tf}", tf, watchlist.symbols, sched.every, settle, None))
            continue
        on_calendar = tuple(
            s
            for s in watchlist.symbols
            if EXCHANGE_CALENDARS.get(split_symbol(s)[0]) == sched.calendar
        )
        rest = tuple(s for s in watchlist.symbols if s not in on_calendar)
        if on_calendar:
            specs.append(
                DagSpec(f"ohlcv_{tf}", tf, on_calendar, sched.every, settle, sched.calendar)
            )
        if rest:  # 24x7 bars sit on the UTC grid: final as soon as the interval ends
            specs.append(DagSpec(f"ohlcv_{tf}_24x7", tf, rest, sched.every, SETTLE_GRACE, None))
    return specs
